import type { AccessService } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { z } from 'zod';
import { invalid } from '../common/errors';
import { ORG_ROLES } from './membership.entity';

/**
 * Inputs shared by the forms and the management API: both parse through these schemas, then the
 * same services apply the same rules. Form fields arrive as strings (empty meaning "not given"),
 * JSON as typed values; the preprocessors accept both.
 */
const blankToUndef = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v);
const optText = (max: number) => z.preprocess(blankToUndef, z.string().max(max, `must be at most ${max} characters`).optional());
const optInt = z.preprocess(
  (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : Number(v)) : v ?? undefined),
  z.number({ error: 'must be a number' }).int('must be a whole number').positive('must be positive').optional(),
);
const list = z.preprocess((v) => {
  if (v === undefined || v === null || v === '') return undefined;
  if (Array.isArray(v)) return v.flatMap((x) => String(x).split(/[\s,]+/)).filter(Boolean);
  return String(v).split(/[\s,]+/).filter(Boolean);
}, z.array(z.string().max(200)).max(50).optional());

export const orgCreateInput = z.object({ slug: z.string({ error: 'is required' }).trim().toLowerCase(), name: optText(200) });
export const orgUpdateInput = z.object({ name: z.string({ error: 'is required' }).trim().min(1, 'is required').max(200) });
export const memberAddInput = z.object({ email: z.string({ error: 'is required' }).trim(), role: z.preprocess(blankToUndef, z.enum(ORG_ROLES).default('member')) });
export const memberRoleInput = z.object({ role: z.enum(ORG_ROLES, { error: 'must be admin or member' }) });
export const teamCreateInput = z.object({ slug: z.string({ error: 'is required' }).trim().toLowerCase(), name: optText(200) });
export const teamUpdateInput = z.object({ name: z.string({ error: 'is required' }).trim().min(1, 'is required').max(200) });
export const teamMemberInput = z.object({ email: z.preprocess(blankToUndef, z.string().optional()), userId: z.preprocess(blankToUndef, z.string().optional()) });
export const serviceAccountCreateInput = z.object({ name: z.string({ error: 'is required' }).trim(), team: optText(100), description: optText(500) });
export const serviceAccountUpdateInput = z.object({ team: z.preprocess((v) => (v === '' ? null : v), z.string().max(100).nullable().optional()), description: z.preprocess((v) => (v === '' ? null : v), z.string().max(500).nullable().optional()) });

export const tokenCreateInput = z.object({
  name: z.string({ error: 'is required' }).trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  /** Owner: a member (user id or email) or a service account (id or name); forms send `owner=user:<id>` / `owner=sa:<id>`. */
  owner: optText(400),
  userId: optText(100),
  email: optText(320),
  serviceAccount: optText(100),
  scopes: list,
  models: list,
  expires: optText(40),
  rpm: optInt,
  tpm: optInt,
});
export const myTokenCreateInput = tokenCreateInput.pick({ name: true, scopes: true, models: true, expires: true, rpm: true, tpm: true }).extend({ org: z.string({ error: 'is required' }).trim().min(1, 'is required') });
export const rotateInput = z.object({ grace: optText(10) });

/** Parses with a schema; the first problem becomes a 400 naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i.path.map(String).join('.') || 'body';
    throw invalid(`${field}: ${i.message}`, field);
  }
  return r.data;
}

/**
 * A body for an organization's endpoint, parsed only once the caller may see the organization:
 * an outsider gets 404 whatever they send, not a validation error that confirms it exists.
 */
export async function parseOrgInput<T extends z.ZodType>(access: AccessService, actor: Actor, org: string, schema: T, body: unknown): Promise<z.infer<T>> {
  await access.org(actor, org, 'member');
  return parseInput(schema, body);
}
