import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const Organization = defineEntity({
  name: 'Organization',
  tableName: 'organization',
  properties: (p) => ({
    ...baseProperties,
    slug: p.string().unique(),
    name: p.string(),
  }),
});
export type Organization = InferEntity<typeof Organization>;
