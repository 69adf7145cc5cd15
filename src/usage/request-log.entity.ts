import { defineEntity, InferEntity } from '@mikro-orm/core';

/**
 * One row per proxied request. The table is range-partitioned by day on created_at (see the first
 * migration); rows are written in batches with plain SQL by the usage writer, never through the
 * unit of work. The entity exists for typed reads.
 */
export const RequestLog = defineEntity({
  name: 'RequestLog',
  tableName: 'request_log',
  properties: (p) => ({
    id: p.uuid().primary(),
    createdAt: p.datetime(),
    requestId: p.string(),
    orgId: p.uuid(),
    teamId: p.uuid().nullable(),
    tokenId: p.uuid().nullable(),
    ownerUserId: p.uuid().nullable(),
    serviceAccountId: p.uuid().nullable(),
    endUser: p.string().nullable(),
    sessionId: p.string().nullable(),
    client: p.string().nullable(),
    tags: p.array().nullable(),
    provider: p.string().nullable(),
    model: p.string().nullable(),
    endpoint: p.string(),
    stream: p.boolean(),
    status: p.integer(),
    errorType: p.string().nullable(),
    cancelled: p.boolean(),
    latencyMs: p.double(),
    ttftMs: p.double().nullable(),
    inputTokens: p.integer(),
    outputTokens: p.integer(),
    cachedInputTokens: p.integer(),
    cacheWriteTokens: p.integer(),
    reasoningTokens: p.integer(),
    costMicros: p.bigint('number'),
    usageEstimated: p.boolean(),
    clientDevice: p.string().nullable(),
  }),
});
export type RequestLog = InferEntity<typeof RequestLog>;
