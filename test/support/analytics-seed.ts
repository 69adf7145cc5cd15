import { OrgsService } from '../../src/orgs/orgs.service';
import { uuidv7 } from '../../src/common/uuid';
import { UsageWriter } from '../../src/usage/usage-writer.service';
import type { UsageRecord } from '../../src/usage/usage-record';
import type { TestApp } from './app';
import { createOrg, createTeam, createToken, createUser } from './factories';
import type { FakeUpstream } from './fake-upstream';
import { withDatabase } from './pg';

/**
 * Usage for the analytics specs: two organizations with teams, people, personal and service
 * tokens, end-user ids (emails in any case, and opaque ids), tags, sessions, failures and models,
 * some proxied now through the fake upstream and some written in the past through the usage
 * writer (so every rollup comes from the writer, never from hand-written rows), with timestamps
 * placed around UTC, New York and Kolkata midnights.
 */
export const gatewayConfig = (fakeUrl: string) => ({
  providers: {
    fake: { baseurl: fakeUrl, models: ['m1', 'm2', 'emb'], compatibility: { openai_chat: true, openai_embeddings: true }, description: 'Fake provider for tests' },
    spare: { baseurl: fakeUrl, models: ['s1'], compatibility: { openai_chat: true } },
  },
  pricing: { 'fake/m1': { input: 3, output: 15 }, 'fake/m2': { input: 0.5, output: 1.5, cached_input: 0.25 }, 'fake/emb': { input: 0.02, output: 0 } },
  aliases: { fast: 'fake/m2' },
  grants: [{ src: ['org:acme'], models: ['**'] }, { src: ['org:globex'], models: ['fake/m2'] }],
});

export interface Seeded {
  org: Record<'acme' | 'globex', string>;
  team: Record<'core' | 'web' | 'ops', string>;
  user: Record<'admin' | 'alice' | 'bob' | 'carol' | 'gadmin', string>;
  token: Record<'alice' | 'bob' | 'bot' | 'carol', { id: string; secret: string }>;
  sa: string;
  /** The UTC day (midnight) the historical rows are placed around: three days before today. */
  day: Date;
  /** First day of a UTC month three months before `day`'s, with rows on its 3rd, 12th, 20th and 27th (ranges read as a month minus days). */
  month: Date;
}

const DAY = 86_400_000;

export async function seedAnalytics(t: TestApp, fake: FakeUpstream): Promise<Seeded> {
  const orgs = t.app.get(OrgsService);
  const org = { acme: (await createOrg(t.app, 'acme', 'Acme Corp')).id, globex: (await createOrg(t.app, 'globex', 'Globex Inc')).id };
  const team = { core: (await createTeam(t.app, 'acme', 'core')).id, web: (await createTeam(t.app, 'acme', 'web')).id, ops: (await createTeam(t.app, 'globex', 'ops')).id };
  const user = {
    admin: (await createUser(t.app, { email: 'admin@acme.test', org: 'acme', role: 'admin' })).id,
    alice: (await createUser(t.app, { email: 'alice@acme.test', org: 'acme', role: 'member' })).id,
    bob: (await createUser(t.app, { email: 'bob@acme.test', org: 'acme', role: 'member' })).id,
    carol: (await createUser(t.app, { email: 'carol@globex.test', org: 'globex', role: 'member' })).id,
    gadmin: (await createUser(t.app, { email: 'gadmin@globex.test', org: 'globex', role: 'admin' })).id,
  };
  await orgs.addTeamMember('test', 'acme', 'core', 'alice@acme.test');
  await orgs.addTeamMember('test', 'acme', 'web', 'bob@acme.test');
  await orgs.addTeamMember('test', 'globex', 'ops', 'carol@globex.test');
  const sa = (await orgs.createServiceAccount('test', 'acme', 'webui', { teamSlug: 'web' })).id;
  const tok = async (o: Parameters<typeof createToken>[1]) => {
    const r = await createToken(t.app, o);
    return { id: r.id, secret: r.secret };
  };
  const token = {
    alice: await tok({ orgSlug: 'acme', userEmail: 'alice@acme.test', name: 'alice-laptop' }),
    bob: await tok({ orgSlug: 'acme', userEmail: 'bob@acme.test', name: 'bob-ci' }),
    bot: await tok({ orgSlug: 'acme', serviceAccountName: 'webui', name: 'webui-prod' }),
    carol: await tok({ orgSlug: 'globex', userEmail: 'carol@globex.test', name: 'carol-key' }),
  };

  // Proxied now.
  const call = (secret: string, body: object, headers: Record<string, string> = {}, path = '/v1/chat/completions') =>
    fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }).then((r) => r.text());
  const msg = (n: number) => [{ role: 'user', content: 'x'.repeat(20 + n * 17) }];
  for (let i = 0; i < 4; i++) await call(token.alice.secret, { model: 'fake/m1', messages: msg(i) }, i === 0 ? { 'x-sluice-tags': 'proj:x,env:prod', 'x-sluice-session': 'alice-s1' } : { 'x-sluice-session': 'alice-s1' });
  for (let i = 0; i < 2; i++) await call(token.alice.secret, { model: 'm2', stream: true, stream_options: { include_usage: true }, messages: msg(i + 4) }, { 'x-sluice-session': 'alice-s2' });
  await call(token.alice.secret, { model: 'fake/emb', input: ['a', 'b', 'c'] }, {}, '/v1/embeddings');
  fake.next({ mode: 'status', status: 500 });
  await call(token.alice.secret, { model: 'fake/m1', messages: msg(9) });
  for (let i = 0; i < 3; i++) await call(token.bob.secret, { model: 'fake/m2', messages: msg(i), ...(i === 2 ? { user: 'Bob@Acme.test' } : {}) }, { 'x-sluice-tags': 'env:dev' });
  for (const [u, n] of [['alice@acme.test', 2], ['customer-7', 2], ['cust-9', 1]] as const) {
    for (let i = 0; i < n; i++) await call(token.bot.secret, { model: 'fake/m2', user: u, messages: msg(i + 2) }, { 'x-sluice-tags': 'env:prod,app:webui' });
  }
  for (let i = 0; i < 3; i++) await call(token.carol.secret, { model: 'fake/m2', messages: msg(i) }, { 'x-sluice-session': 'carol-s1' });
  await call(token.carol.secret, { model: 'fake/m1', messages: msg(1) }); // 403: not granted to globex

  // Written in the past through the usage writer (the rollups come from its transaction).
  const day = new Date(Math.floor(Date.now() / DAY) * DAY - 3 * DAY);
  const at = (dayOffset: number, hh: number, mm: number) => new Date(day.getTime() + dayOffset * DAY + (hh * 60 + mm) * 60_000);
  const who = {
    alice: { orgId: org.acme, teamId: team.core, tokenId: token.alice.id, ownerUserId: user.alice, serviceAccountId: null, endUser: null },
    bob: { orgId: org.acme, teamId: team.web, tokenId: token.bob.id, ownerUserId: user.bob, serviceAccountId: null, endUser: null },
    botAlice: { orgId: org.acme, teamId: team.web, tokenId: token.bot.id, ownerUserId: null, serviceAccountId: sa, endUser: 'ALICE@acme.test' },
    botCust: { orgId: org.acme, teamId: team.web, tokenId: token.bot.id, ownerUserId: null, serviceAccountId: sa, endUser: 'customer-7' },
    botNone: { orgId: org.acme, teamId: team.web, tokenId: token.bot.id, ownerUserId: null, serviceAccountId: sa, endUser: null },
    carol: { orgId: org.globex, teamId: team.ops, tokenId: token.carol.id, ownerUserId: user.carol, serviceAccountId: null, endUser: null },
  };
  const month = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() - 3, 1));
  const times = [
    at(0, 23, 10), at(1, 0, 20), at(0, 18, 45), at(0, 18, 15), at(0, 4, 30), at(0, 5, 10), at(-1, 22, 0), at(1, 3, 59), at(0, 12, 0), at(-10, 12, 0), at(-20, 9, 30), at(2, 7, 5),
    ...[3, 12, 20, 27].map((d) => new Date(month.getTime() + (d - 1) * DAY + 12 * 3_600_000)),
  ];
  const people = Object.keys(who) as (keyof typeof who)[];
  const models: [string, string][] = [['fake', 'm1'], ['fake', 'm2'], ['fake', 'm2'], ['fake', 'emb'], ['spare', 'gone']];
  const tagSets: (string[] | null)[] = [null, ['env:prod'], ['proj:x', 'env:prod'], ['env:prod', 'proj:x', 'env:prod'], ['Zeta', 'alpha'], null];
  const records: UsageRecord[] = [];
  let n = 0;
  for (const time of times) {
    for (const p of people) {
      n++;
      if ((n * 7) % 5 === 0) continue; // not everyone every time
      const [provider, model] = models[n % models.length];
      const status = n % 11 === 0 ? 500 : n % 13 === 0 ? 429 : 200;
      const embedding = model === 'emb';
      const input = 100 + ((n * 37) % 900);
      const output = embedding || status >= 400 ? 0 : 20 + ((n * 53) % 400);
      records.push({
        id: uuidv7(),
        createdAt: new Date(time.getTime() + (n % 50) * 1000),
        requestId: `hist-${n}`,
        ...who[p],
        sessionId: n % 3 === 0 ? `hist-session-${p}-${n % 2}` : null,
        client: null,
        clientDevice: null,
        tags: tagSets[n % tagSets.length],
        provider,
        model,
        endpoint: embedding ? 'embeddings' : 'chat',
        stream: n % 2 === 0,
        status,
        errorType: status >= 400 ? 'upstream_error' : null,
        cancelled: false,
        latencyMs: 50 + ((n * 97) % 2000) + 0.25,
        ttftMs: embedding ? null : 30 + (n % 40),
        inputTokens: input,
        outputTokens: output,
        cachedInputTokens: n % 4 === 0 ? 50 : 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        costMicros: status >= 400 ? 0 : input * 3 + output * 15 + n,
        usageEstimated: false,
        toolsOffered: null,
        toolEvents: [],
      });
    }
  }
  const writer = t.app.get(UsageWriter);
  for (const r of records) {
    if (!writer.admit()) throw new Error('usage writer is full');
    writer.record(r);
  }
  await writer.drain();
  return { org, team, user, token, sa, day, month };
}

export const q = <T = any>(t: TestApp, sql: string, params: unknown[] = []): Promise<T[]> => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
