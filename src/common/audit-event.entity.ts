import { defineEntity, InferEntity } from '@mikro-orm/core';
import { uuidv7 } from './uuid';

/** Who changed what, when; before/after never hold secrets (callers pass redacted views). */
export const AuditEvent = defineEntity({
  name: 'AuditEvent',
  tableName: 'audit_event',
  properties: (p) => ({
    id: p.uuid().primary().onCreate(() => uuidv7()),
    createdAt: p.datetime().onCreate(() => new Date()),
    actor: p.string(),
    orgId: p.uuid().nullable(),
    action: p.string(),
    targetType: p.string(),
    targetId: p.string().nullable(),
    before: p.json().nullable(),
    after: p.json().nullable(),
  }),
});
export type AuditEvent = InferEntity<typeof AuditEvent>;
