import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';
import { MEMBERSHIP_SOURCES } from './membership.entity';

export const Team = defineEntity({
  name: 'Team',
  tableName: 'team',
  properties: (p) => ({
    ...baseProperties,
    orgId: p.uuid(),
    slug: p.string(),
    name: p.string(),
  }),
});
export type Team = InferEntity<typeof Team>;

export const TeamMember = defineEntity({
  name: 'TeamMember',
  tableName: 'team_member',
  properties: (p) => ({
    ...baseProperties,
    teamId: p.uuid(),
    userId: p.uuid(),
    source: p.enum(() => MEMBERSHIP_SOURCES).default('manual'),
  }),
});
export type TeamMember = InferEntity<typeof TeamMember>;
