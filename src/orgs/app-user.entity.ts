import { defineEntity, InferEntity } from '@mikro-orm/core';
import { baseProperties } from '../db/base.entity';

export const AppUser = defineEntity({
  name: 'AppUser',
  tableName: 'app_user',
  properties: (p) => ({
    ...baseProperties,
    email: p.string(),
    displayName: p.string().nullable(),
    oidcIssuer: p.string().nullable(),
    oidcSubject: p.string().nullable(),
    isGlobalAdmin: p.boolean().default(false),
    lastLoginAt: p.datetime().nullable(),
  }),
});
export type AppUser = InferEntity<typeof AppUser>;
