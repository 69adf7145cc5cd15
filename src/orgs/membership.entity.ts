import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const ORG_ROLES = ['admin', 'member'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

export const Membership = defineEntity({
  name: 'Membership',
  tableName: 'membership',
  properties: (p) => ({
    ...baseProperties,
    userId: p.uuid(),
    orgId: p.uuid(),
    role: p.enum(() => ORG_ROLES),
  }),
});
export type Membership = InferEntity<typeof Membership>;
