import type { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { OrgsService } from '../../src/orgs/orgs.service';
import type { OrgRole } from '../../src/orgs/membership.entity';
import { CreateTokenInput, TokensService } from '../../src/tokens/tokens.service';
import { registerSecret } from './pg';

const suffix = () => randomBytes(3).toString('hex');

export async function createOrg(app: INestApplicationContext, slug = `org-${suffix()}`, name?: string) {
  return app.get(OrgsService).createOrg('test', slug, name);
}

export async function createUser(app: INestApplicationContext, opts: { email?: string; org?: string; role?: OrgRole; globalAdmin?: boolean } = {}) {
  const res = await app.get(OrgsService).createUser('test', {
    email: opts.email ?? `user-${suffix()}@example.test`,
    orgSlug: opts.org,
    role: opts.role ?? (opts.org ? 'member' : undefined),
    globalAdmin: opts.globalAdmin,
  });
  return res.user;
}

export async function createTeam(app: INestApplicationContext, org: string, slug = `team-${suffix()}`) {
  return app.get(OrgsService).createTeam('test', org, slug);
}

/** Issues a token and returns its plaintext; the secret is registered for the log-leak check. */
export async function createToken(app: INestApplicationContext, input: Partial<CreateTokenInput> & { orgSlug: string }) {
  const res = await app.get(TokensService).create('test', {
    name: `tok-${suffix()}`,
    ...(input.serviceAccountName ? {} : { userEmail: input.userEmail ?? `owner-${suffix()}@example.test` }),
    ...input,
  });
  registerSecret(res.secret);
  return { id: res.token.id, secret: res.secret, token: res.token };
}
