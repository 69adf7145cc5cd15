import { constants, createPublicKey, KeyObject, verify as verifySignature, type JsonWebKey } from 'node:crypto';

/** Asymmetric algorithms only: `none` and HMAC (a key the client also holds) are refused. */
const ALGS: Record<string, { hash: string | null; kind: 'rsa' | 'pss' | 'ec' | 'ed' }> = {
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  PS512: { hash: 'sha512', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ec' },
  ES384: { hash: 'sha384', kind: 'ec' },
  ES512: { hash: 'sha512', kind: 'ec' },
  EdDSA: { hash: null, kind: 'ed' },
};

export class IdTokenError extends Error {}

export interface Jwk extends JsonWebKey {
  kid?: string;
  use?: string;
  alg?: string;
}

export function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signed: Buffer; signature: Buffer } {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new IdTokenError('ID token is not a signed JWT');
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
      signed: Buffer.from(`${parts[0]}.${parts[1]}`),
      signature: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    throw new IdTokenError('ID token is not valid JSON');
  }
}

/**
 * Keys from the provider's jwks_uri, refetched when a token names a key id we have not seen (the
 * provider rotated its keys), at most once every 30 s so garbage tokens cannot hammer it.
 */
export class JwksCache {
  private keys: Jwk[] = [];
  private fetchedAt = 0;

  constructor(private readonly fetchJwks: () => Promise<Jwk[]>) {}

  /** Verifies an ID token's signature; returns its claims. Claim checks are the strategy's job. */
  async verify(jwt: string): Promise<Record<string, unknown>> {
    const { header, claims, signed, signature } = decodeJwt(jwt);
    const alg = typeof header.alg === 'string' ? header.alg : '';
    const spec = ALGS[alg];
    if (!spec) throw new IdTokenError(`ID token algorithm "${alg.slice(0, 20)}" is not accepted`);
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    let key = this.find(kid, spec.kind);
    if (!key && Date.now() - this.fetchedAt > 30_000) {
      this.keys = await this.fetchJwks();
      this.fetchedAt = Date.now();
      key = this.find(kid, spec.kind);
    }
    if (!key) throw new IdTokenError('ID token is signed with an unknown key');
    let ok = false;
    try {
      const k: KeyObject = createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
      if (spec.kind === 'rsa') ok = verifySignature(spec.hash, signed, k, signature);
      else if (spec.kind === 'pss') ok = verifySignature(spec.hash, signed, { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
      else if (spec.kind === 'ec') ok = verifySignature(spec.hash, signed, { key: k, dsaEncoding: 'ieee-p1363' }, signature);
      else ok = verifySignature(null, signed, k, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new IdTokenError('ID token signature is invalid');
    return claims;
  }

  private find(kid: string | undefined, kind: string): Jwk | undefined {
    const kty = kind === 'ec' ? 'EC' : kind === 'ed' ? 'OKP' : 'RSA';
    const usable = this.keys.filter((k) => k.kty === kty && (k.use === undefined || k.use === 'sig'));
    if (kid) return usable.find((k) => k.kid === kid);
    return usable.length === 1 ? usable[0] : undefined;
  }
}
