import { defineEntity } from '@mikro-orm/core';
import { uuidv7 } from '../common/uuid';

const p = defineEntity.properties;

/** Columns every mutable entity has. Composition rather than inheritance, as defineEntity prefers. */
export const baseProperties = {
  id: p.uuid().primary().onCreate(() => uuidv7()),
  createdAt: p.datetime().onCreate(() => new Date()),
  updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
};
