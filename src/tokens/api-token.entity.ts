import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const TOKEN_SCOPES = ['proxy', 'admin', 'metrics'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Only the SHA-256 of the secret and a short display prefix are stored; the secret is shown once. */
export const ApiToken = defineEntity({
  name: 'ApiToken',
  tableName: 'api_token',
  properties: (p) => ({
    ...baseProperties,
    orgId: p.uuid(),
    name: p.string(),
    tokenHash: p.string().hidden(),
    displayPrefix: p.string(),
    ownerUserId: p.uuid().nullable(),
    serviceAccountId: p.uuid().nullable(),
    teamId: p.uuid().nullable(),
    createdById: p.uuid().nullable(),
    scopes: p.array().default(['proxy']),
    modelPatterns: p.array().nullable(),
    rpm: p.integer().nullable(),
    tpm: p.integer().nullable(),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    /** The token this one replaced when it was rotated. */
    rotatedFromId: p.uuid().nullable(),
  }),
});
export type ApiToken = InferEntity<typeof ApiToken>;
