import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const ServiceAccount = defineEntity({
  name: 'ServiceAccount',
  tableName: 'service_account',
  properties: (p) => ({
    ...baseProperties,
    orgId: p.uuid(),
    teamId: p.uuid().nullable(),
    name: p.string(),
    description: p.string().nullable(),
    disabledAt: p.datetime().nullable(),
  }),
});
export type ServiceAccount = InferEntity<typeof ServiceAccount>;
