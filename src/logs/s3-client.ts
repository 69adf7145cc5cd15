import aws4 from 'aws4';
import { createHash } from 'node:crypto';
import { request } from 'undici';

/**
 * The three S3 calls the export needs (PutObject, GetObject, ListObjectsV2), signed with AWS
 * Signature V4 by `aws4` (no dependencies) and sent with undici, which the gateway already uses
 * upstream. The full AWS SDK would bring ~100 packages for this; any S3-compatible server (AWS,
 * MinIO, Ceph, R2, GCS interoperability) speaks these calls.
 *
 * Errors carry the HTTP status and S3's error code and message, never request headers.
 */
export interface S3Target {
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000 */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** host/bucket/key instead of bucket.host/key */
  pathStyle: boolean;
}

export class S3RequestError extends Error {
  constructor(
    readonly status: number,
    readonly s3Code: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'S3RequestError';
  }
}

/** S3's canonical URI encoding, per path segment (what aws4 signs for service s3). */
const encodeKey = (key: string) =>
  key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()))
    .join('/');

const xmlText = (xml: string, tag: string): string | null => {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&') : null;
};

export class S3Client {
  private readonly base: URL;

  constructor(
    private readonly t: S3Target,
    private readonly timeoutMs = 120_000,
  ) {
    this.base = new URL(t.endpoint);
  }

  private location(key: string, query?: Record<string, string>): { host: string; path: string; url: string } {
    const host = this.t.pathStyle ? this.base.host : `${this.t.bucket}.${this.base.host}`;
    // A bucket-level request (key '') is `/bucket` path-style, as the AWS SDKs send it.
    let path = this.t.pathStyle ? `/${this.t.bucket}${key ? '/' + encodeKey(key) : ''}` : `/${encodeKey(key)}`;
    if (query && Object.keys(query).length) {
      path += '?' + Object.keys(query).sort().map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`).join('&');
    }
    return { host, path, url: `${this.base.protocol}//${host}${path}` };
  }

  private async send(method: 'GET' | 'PUT', key: string, opts: { body?: Buffer; headers?: Record<string, string>; query?: Record<string, string> } = {}) {
    const loc = this.location(key, opts.query);
    const signed = aws4.sign(
      { host: loc.host, path: loc.path, method, service: 's3', region: this.t.region, body: opts.body, headers: { ...opts.headers } },
      { accessKeyId: this.t.accessKeyId, secretAccessKey: this.t.secretAccessKey },
    );
    const headers = signed.headers as Record<string, string>;
    // undici sets these itself; a second copy would be rejected.
    delete headers.Host;
    delete headers['Content-Length'];
    const res = await request(loc.url, { method, headers, body: opts.body, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 300) {
      const xml = body.toString('utf8');
      const code = xmlText(xml, 'Code');
      const msg = xmlText(xml, 'Message');
      throw new S3RequestError(res.statusCode, code, `S3 ${method} ${this.t.bucket}/${key} failed: HTTP ${res.statusCode}${code ? ` ${code}` : ''}${msg ? `: ${msg}` : ''}`);
    }
    return { headers: res.headers, body };
  }

  /** Stores an object; a second put of the same key replaces it. Content-MD5 lets the server check the bytes. */
  async putObject(key: string, body: Buffer, contentType: string, extra: Record<string, string> = {}): Promise<{ etag: string | null }> {
    const md5 = createHash('md5').update(body).digest('base64');
    const res = await this.send('PUT', key, { body, headers: { 'Content-Type': contentType, 'Content-MD5': md5, ...extra } });
    const etag = res.headers.etag;
    return { etag: typeof etag === 'string' ? etag : null };
  }

  async getObject(key: string): Promise<Buffer> {
    return (await this.send('GET', key)).body;
  }

  /** Every key under a prefix (follows continuation tokens). */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | null = null;
    do {
      const query: Record<string, string> = { 'list-type': '2', prefix };
      if (token) query['continuation-token'] = token;
      const xml = (await this.send('GET', '', { query })).body.toString('utf8');
      for (const m of xml.matchAll(/<Key>([\s\S]*?)<\/Key>/g)) keys.push(xmlText(`<K>${m[1]}</K>`, 'K')!);
      token = xmlText(xml, 'IsTruncated') === 'true' ? xmlText(xml, 'NextContinuationToken') : null;
    } while (token);
    return keys;
  }
}
