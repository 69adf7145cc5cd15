import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const ORG_ROLES = ['admin', 'member'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];
export const MEMBERSHIP_SOURCES = ['manual', 'oidc'] as const;
export type MembershipSource = (typeof MEMBERSHIP_SOURCES)[number];

export const Membership = defineEntity({
  name: 'Membership',
  tableName: 'membership',
  properties: (p) => ({
    ...baseProperties,
    userId: p.uuid(),
    orgId: p.uuid(),
    role: p.enum(() => ORG_ROLES),
    /** `oidc` when granted by the identity provider's groups claim (re-synced at each sign-in). */
    source: p.enum(() => MEMBERSHIP_SOURCES).default('manual'),
  }),
});
export type Membership = InferEntity<typeof Membership>;
