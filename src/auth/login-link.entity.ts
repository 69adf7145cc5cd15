import { defineEntity, InferEntity } from '@mikro-orm/core';
import { uuidv7 } from '../common/uuid';

/** A one-time sign-in link: only the SHA-256 of its secret is stored; used once, within 15 minutes. */
export const LoginLink = defineEntity({
  name: 'LoginLink',
  tableName: 'login_link',
  properties: (p) => ({
    id: p.uuid().primary().onCreate(() => uuidv7()),
    tokenHash: p.string().hidden(),
    userId: p.uuid(),
    createdBy: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  }),
});
export type LoginLink = InferEntity<typeof LoginLink>;
