import 'reflect-metadata';
import { Command, CommanderError, Option } from 'commander';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { CliAppModule } from '../app.module';
import { LoginLinkService } from '../auth/login-link.service';
import { bootRuntime, Booted } from '../bootstrap';
import { DomainError, invalid } from '../common/errors';
import { createLogger } from '../common/logger';
import { VERSION } from '../common/paths';
import { ConfigError, loadEnv } from '../config/env';
import { loadGatewayConfigFile } from '../config/gateway-config.loader';
import { OrgsService } from '../orgs/orgs.service';
import { ORG_ROLES, OrgRole } from '../orgs/membership.entity';
import { TokensService, TokenView } from '../tokens/tokens.service';
import { BudgetsService } from '../budgets/budgets.service';
import { ConfigStore } from '../settings/config-store.service';
import { PgPool } from '../db/pg-pool';
import { rebuildRollups } from '../usage/rollups';
import { readFileSync } from 'node:fs';
import { RateLimitsService } from '../budgets/rate-limits.service';
import { S3ExportService } from '../logs/s3-export.service';
import { BUDGET_METRICS, BUDGET_PERIODS, BudgetMetric, BudgetPeriod, CounterMetric, LIMIT_KINDS } from '../budgets/budget.types';

const ACTOR = 'cli';

/** Boots the same modules as the server (no HTTP), runs `fn`, and always shuts down cleanly. */
async function withApp<T>(fn: (app: INestApplicationContext, booted: Booted) => Promise<T>): Promise<T> {
  const env = loadEnv();
  // The CLI's stdout is its answer; logs go to stderr and only when something is wrong.
  const logger = createLogger(process.env.LOG_LEVEL ? env.LOG_LEVEL : 'warn', require('pino').destination(2));
  const booted = await bootRuntime({ env, logger });
  const app = await NestFactory.createApplicationContext(CliAppModule.forRoot(booted.rt), { logger: false, abortOnError: false });
  try {
    return await fn(app, booted);
  } finally {
    await app.close().catch(() => undefined);
    await booted.close();
  }
}

const out = (s: string) => process.stdout.write(s + '\n');
const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return '(none)';
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

const ownerLabel = (t: TokenView) => (t.owner.type === 'user' ? t.owner.email : `sa:${t.owner.name}`);
const tokenStatus = (t: TokenView) =>
  t.revokedAt ? 'revoked' : t.expiresAt && new Date(t.expiresAt) <= new Date() ? 'expired' : 'active';

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw invalid(`${name} must be a positive integer`);
    return n;
  };
}

/** Dollars (`25`, `$1.50`) to micro-dollars for cost; whole numbers otherwise. */
function parseAmount(v: string, metric: CounterMetric, what: string): number {
  if (metric === 'cost') {
    const m = /^\$?(\d+(?:\.\d{1,6})?)$/.exec(v.trim());
    if (!m) throw invalid(`${what} is in dollars for cost budgets, e.g. 25 or 1.50`);
    return Math.round(Number(m[1]) * 1e6);
  }
  if (!/^\d+$/.test(v.trim())) throw invalid(`${what} must be a whole number of ${metric === 'requests' ? 'requests' : 'tokens'}`);
  return Number(v.trim());
}

function parseRate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(?:\/(s|m|h))?$/.exec(v.trim());
  if (!m) throw invalid('--refill is an amount per second, or N/m, N/h');
  return Number(m[1]) / { s: 1, m: 60, h: 3600 }[(m[2] ?? 's') as 's'];
}

function formatAmount(n: number, metric: CounterMetric): string {
  return metric === 'cost' ? `$${(n / 1e6).toFixed(2)}` : String(n);
}

export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice, the self-hosted LLM gateway: administration from the command line')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    // Set before subcommands are added so they inherit it: errors come back to run(), which
    // owns the exit code, instead of commander calling process.exit itself.
    .exitOverride();

  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      await withApp(async () => undefined);
      out('database schema is current');
    });

  const org = program.command('org').description('organizations');
  org
    .command('create <slug>')
    .description('create an organization')
    .option('--name <name>', 'display name (defaults to the slug)')
    .option('--json', 'print JSON')
    .action(async (slug: string, o: { name?: string; json?: boolean }) => {
      const created = await withApp((app) => app.get(OrgsService).createOrg(ACTOR, slug, o.name));
      if (o.json) printJson({ id: created.id, slug: created.slug, name: created.name });
      else out(`created organization ${created.slug} (${created.id})`);
    });
  org
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const orgs = await withApp((app) => app.get(OrgsService).listOrgs());
      const rows = orgs.map((x) => ({ id: x.id, slug: x.slug, name: x.name }));
      if (o.json) printJson(rows);
      else out(table(rows, ['slug', 'name', 'id']));
    });

  const user = program.command('user').description('users');
  user
    .command('create')
    .description('create a user (or update an existing one), optionally adding them to an organization')
    .requiredOption('--email <email>', 'email address')
    .option('--name <name>', 'display name')
    .option('--org <slug>', 'organization to add the user to')
    .addOption(new Option('--role <role>', 'role in the organization').choices([...ORG_ROLES]))
    .option('--global-admin', 'make the user a global admin')
    .option('--json', 'print JSON')
    .action(async (o: { email: string; name?: string; org?: string; role?: OrgRole; globalAdmin?: boolean; json?: boolean }) => {
      const res = await withApp((app) =>
        app.get(OrgsService).createUser(ACTOR, { email: o.email, displayName: o.name, orgSlug: o.org, role: o.role ?? (o.org ? 'member' : undefined), globalAdmin: o.globalAdmin }),
      );
      if (o.json) printJson({ id: res.user.id, email: res.user.email, globalAdmin: res.user.isGlobalAdmin, created: res.created, org: o.org ?? null, role: res.membership?.role ?? null });
      else out(`${res.created ? 'created' : 'updated'} user ${res.user.email}${res.membership ? ` (${res.membership.role} of ${o.org})` : ''}${res.user.isGlobalAdmin ? ' [global admin]' : ''}`);
    });

  const team = program.command('team').description('teams');
  team
    .command('create')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--slug <slug>', 'team slug')
    .option('--name <name>', 'display name')
    .action(async (o: { org: string; slug: string; name?: string }) => {
      const t = await withApp((app) => app.get(OrgsService).createTeam(ACTOR, o.org, o.slug, o.name));
      out(`created team ${o.org}/${t.slug} (${t.id})`);
    });
  team
    .command('add-member')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--team <slug>', 'team slug')
    .requiredOption('--email <email>', 'member email')
    .action(async (o: { org: string; team: string; email: string }) => {
      await withApp((app) => app.get(OrgsService).addTeamMember(ACTOR, o.org, o.team, o.email));
      out(`added ${o.email} to ${o.org}/${o.team}`);
    });

  program
    .command('service-account')
    .description('service accounts')
    .command('create')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--name <name>', 'service account name')
    .option('--team <slug>', 'team the account belongs to')
    .option('--description <text>', 'what it is for')
    .action(async (o: { org: string; name: string; team?: string; description?: string }) => {
      const sa = await withApp((app) => app.get(OrgsService).createServiceAccount(ACTOR, o.org, o.name, { teamSlug: o.team, description: o.description }));
      out(`created service account ${o.org}/${sa.name} (${sa.id})`);
    });

  const token = program.command('token').description('API tokens');
  token
    .command('create')
    .description('issue a token; the secret is printed once and never stored')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--name <name>', 'token name')
    .option('--user <email>', 'owner (created as a member if new)')
    .option('--service-account <name>', 'owning service account (created if new)')
    .option('--expires <when>', 'lifetime such as 30d or 12h, or an ISO date')
    .option('--scopes <list>', 'comma-separated: proxy, admin, metrics (default proxy)')
    .option('--models <patterns>', 'comma-separated model patterns the token is narrowed to, e.g. openai/*')
    .option('--rpm <n>', 'requests per minute limit', positiveInt('--rpm'))
    .option('--tpm <n>', 'tokens per minute limit', positiveInt('--tpm'))
    .option('--json', 'print JSON')
    .action(async (o: { org: string; name: string; user?: string; serviceAccount?: string; expires?: string; scopes?: string; models?: string; rpm?: number; tpm?: number; json?: boolean }) => {
      const split = (s?: string) => s?.split(',').map((x) => x.trim()).filter(Boolean);
      const res = await withApp((app) =>
        app.get(TokensService).create(ACTOR, {
          orgSlug: o.org,
          name: o.name,
          userEmail: o.user,
          serviceAccountName: o.serviceAccount,
          expires: o.expires,
          scopes: split(o.scopes),
          modelPatterns: split(o.models),
          rpm: o.rpm,
          tpm: o.tpm,
        }),
      );
      if (o.json) {
        printJson({ ...res.token, secret: res.secret });
        return;
      }
      for (const n of res.notes) out(n);
      out(`created token ${res.token.name} (${res.token.id}) for ${ownerLabel(res.token)} in ${res.token.org}`);
      out('');
      out(`  ${res.secret}`);
      out('');
      out('This is the only time the secret is shown. Store it now.');
    });
  token
    .command('revoke <id>')
    .description('revoke a token immediately, on every instance')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const t = await withApp((app) => app.get(TokensService).revoke(ACTOR, id));
      if (o.json) printJson(t);
      else out(`revoked token ${t.name} (${t.id})`);
    });
  token
    .command('list')
    .requiredOption('--org <slug>', 'organization')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const tokens = await withApp((app) => app.get(TokensService).list(o.org));
      if (o.json) printJson(tokens);
      else
        out(table(tokens.map((t) => ({ id: t.id, name: t.name, prefix: t.prefix + '…', owner: ownerLabel(t), status: tokenStatus(t), expires: t.expiresAt ?? 'never', last_used: t.lastUsedAt ?? 'never' })), ['id', 'name', 'prefix', 'owner', 'status', 'expires', 'last_used']));
    });

  program
    .command('login-link')
    .description('print a one-time sign-in link (valid once, for 15 minutes); creates the user if needed')
    .requiredOption('--email <email>', 'who signs in')
    .option('--global-admin', 'make the user a global admin')
    .option('--json', 'print JSON')
    .action(async (o: { email: string; globalAdmin?: boolean; json?: boolean }) => {
      const link = await withApp((app) => app.get(LoginLinkService).issue(ACTOR, o.email, { globalAdmin: o.globalAdmin }));
      if (o.json) {
        printJson({ email: link.email, url: link.url, expiresAt: link.expiresAt.toISOString(), createdUser: link.createdUser });
        return;
      }
      if (link.createdUser) out(`created user ${link.email}${o.globalAdmin ? ' [global admin]' : ''}`);
      out(`Sign in as ${link.email} once, before ${link.expiresAt.toISOString()}, with:`);
      out('');
      out(`  ${link.url}`);
      out('');
      out('Earlier unused links for this user no longer work.');
    });

  const budget = program.command('budget').description('budgets and limits');
  budget
    .command('create')
    .description('create a budget (exactly one of --period, --rolling or --refill)')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--name <name>', 'budget name')
    .requiredOption('--scope <scope>', 'org, pool, team:<slug>, user:<email>, service-account:<name>, token:<id> or end-user:<id>')
    .addOption(new Option('--metric <metric>', 'what it counts').choices([...BUDGET_METRICS]).makeOptionMandatory())
    .requiredOption('--limit <amount>', 'the limit: dollars for cost (e.g. 25.00), else tokens or requests; the capacity for buckets')
    .addOption(new Option('--period <period>', 'calendar window that resets on its boundary').choices([...BUDGET_PERIODS]))
    .option('--tz <zone>', 'time zone of the calendar period (IANA name)', 'UTC')
    .option('--rolling <duration>', 'rolling window, e.g. 4h or 7d')
    .option('--refill <rate>', 'refilling bucket: amount per second, or N/m, N/h')
    .option('--per-end-user', 'template: each end user seen through the token or org gets its own budget like this')
    .option('--soft', 'warn only, never reject')
    .option('--fail-open', 'let requests through when the database cannot be reached')
    .option('--surplus-pool <id>', 'a pool budget this base allocation may draw on')
    .option('--surplus-user-limit <amount>', 'most a user may draw from the pool per window (same unit as --limit)')
    .option('--thresholds <list>', 'alert thresholds in percent', '50,80,100')
    .option('--webhook <url>', 'alert webhook (JSON, HMAC-signed)')
    .option('--json', 'print JSON')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const metric = o.metric as BudgetMetric;
      const amount = (v: string | undefined, what: string) => (v === undefined ? undefined : parseAmount(v, metric, what));
      const view = await withApp((app) =>
        app.get(BudgetsService).create(ACTOR, {
          orgSlug: o.org as string,
          name: o.name as string,
          scope: o.scope as string,
          perEndUser: !!o.perEndUser,
          metric,
          limit: amount(o.limit as string, '--limit')!,
          period: o.period as BudgetPeriod | undefined,
          timeZone: o.tz as string,
          rolling: o.rolling as string | undefined,
          refillPerSecond: o.refill === undefined ? undefined : parseRate(o.refill as string),
          soft: !!o.soft,
          failOpen: !!o.failOpen,
          surplusPoolId: o.surplusPool as string | undefined,
          surplusUserLimit: amount(o.surplusUserLimit as string | undefined, '--surplus-user-limit'),
          thresholds: (o.thresholds as string).split(',').map((x) => Number(x.trim())),
          webhookUrl: o.webhook as string | undefined,
        }),
      );
      if (o.json) printJson(view);
      else {
        out(`created budget ${view.name} (${view.id})`);
        if (view.webhookSecret) out(`webhook signing secret (shown once): ${view.webhookSecret}`);
      }
    });
  budget
    .command('list')
    .requiredOption('--org <slug>', 'organization')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const views = await withApp((app) => app.get(BudgetsService).list(o.org));
      if (o.json) printJson(views);
      else
        out(table(views.map((b) => ({ id: b.id, name: b.name, scope: b.scopeType + (b.endUserTemplate ? ' (per end user)' : ''), metric: b.metric, used: formatAmount(b.used, b.metric), limit: formatAmount(b.limitAmount, b.metric), resets: b.resetAt ?? '', mode: b.paused ? 'paused' : b.hard ? 'hard' : 'soft' })), ['id', 'name', 'scope', 'metric', 'used', 'limit', 'resets', 'mode']));
    });
  budget
    .command('refill <id>')
    .description('give back an amount (default: everything used in the current window)')
    .option('--amount <amount>', 'amount to give back, in the budget unit (dollars for cost)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { amount?: string; json?: boolean }) => {
      const view = await withApp(async (app) => {
        const svc = app.get(BudgetsService);
        const b = await svc.get(id);
        return svc.refill(ACTOR, id, o.amount === undefined ? undefined : parseAmount(o.amount, b.metric, '--amount'));
      });
      if (o.json) printJson(view);
      else out(`refilled budget ${view.name}: ${formatAmount(view.remaining, view.metric)} left`);
    });
  for (const [cmd, paused] of [['pause', true], ['resume', false]] as const) {
    budget.command(`${cmd} <id>`).action(async (id: string) => {
      const view = await withApp((app) => app.get(BudgetsService).setPaused(ACTOR, id, paused));
      out(`${paused ? 'paused' : 'resumed'} budget ${view.name}`);
    });
  }
  budget.command('delete <id>').action(async (id: string) => {
    await withApp((app) => app.get(BudgetsService).remove(ACTOR, id));
    out(`deleted budget ${id}`);
  });

  const limit = program.command('limit').description('rate limits per token, with fallback from user, team and org');
  limit
    .command('set')
    .description('set rate limits on a scope; each token is counted on its own, unset kinds fall back outward')
    .requiredOption('--org <slug>', 'organization')
    .requiredOption('--scope <scope>', 'org, team:<slug>, user:<email>, service-account:<name> or token:<id>')
    .option('--rpm <n>', 'requests per minute (0 clears)')
    .option('--tpm <n>', 'tokens per minute, input and output (0 clears)')
    .option('--input-tpm <n>', 'input tokens per minute (0 clears)')
    .option('--output-tpm <n>', 'output tokens per minute (0 clears)')
    .option('--concurrent <n>', 'requests in flight at once (0 clears)')
    .action(async (o: Record<string, string | undefined>) => {
      const values: Record<string, number | null> = {};
      for (const [opt, kind] of [['rpm', 'rpm'], ['tpm', 'tpm'], ['inputTpm', 'input_tpm'], ['outputTpm', 'output_tpm'], ['concurrent', 'concurrent']] as const) {
        const v = o[opt];
        if (v === undefined) continue;
        if (!/^\d+$/.test(v)) throw invalid(`--${kind.replace('_', '-')} must be a whole number`);
        values[kind] = Number(v) === 0 ? null : Number(v);
      }
      const view = await withApp((app) => app.get(RateLimitsService).set(ACTOR, o.org!, o.scope!, values));
      out(`rate limits for ${view.scope}: ${Object.entries(view.values).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`);
    });
  limit
    .command('list')
    .requiredOption('--org <slug>', 'organization')
    .option('--json', 'print JSON')
    .action(async (o: { org: string; json?: boolean }) => {
      const views = await withApp((app) => app.get(RateLimitsService).list(o.org));
      if (o.json) printJson(views);
      else out(table(views.map((v) => ({ scope: v.scope, ...Object.fromEntries(LIMIT_KINDS.map((k) => [k, v.values[k] ?? ''])) })), ['scope', ...LIMIT_KINDS]));
    });

  program
    .command('rollups')
    .description('usage rollups (per minute, hour and day)')
    .command('rebuild')
    .description('recompute rollups from the raw request rows (default: all that are kept)')
    .option('--from <date>', 'start (ISO date), rounded down to a day')
    .option('--to <date>', 'end (ISO date, exclusive), rounded up to a day')
    .action(async (o: { from?: string; to?: string }) => {
      const day = (s: string, what: string, up: boolean) => {
        const d = new Date(s);
        if (Number.isNaN(d.getTime())) throw invalid(`${what} must be a date such as 2026-11-01`);
        const t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
        return new Date(up && t < d.getTime() ? t + 86_400_000 : t);
      };
      const res = await withApp(async (app) => {
        const pool = app.get(PgPool);
        const span = await pool.query<{ min: Date | null }>('select min(created_at) as min from request_log');
        const from = o.from ? day(o.from, '--from', false) : day((span.rows[0].min ?? new Date()).toISOString(), 'start', false);
        const to = o.to ? day(o.to, '--to', true) : new Date(day(new Date().toISOString(), 'end', false).getTime() + 86_400_000);
        if (to <= from) throw invalid('--to must be after --from');
        const client = await pool.connect();
        try {
          return { from, to, counts: await rebuildRollups(client, from, to) };
        } finally {
          client.release();
        }
      });
      out(`rebuilt rollups from ${res.from.toISOString()} to ${res.to.toISOString()}: ${Object.entries(res.counts).map(([g, n]) => `${n} ${g} rows`).join(', ')}`);
    });

  const config = program.command('config').description('the gateway config document (providers, models, pricing, grants)');
  config
    .command('validate <file>')
    .description('check a gateway config JSON file against the schema')
    .action(async (file: string) => {
      loadGatewayConfigFile(file);
      out(`${file}: valid`);
    });
  config
    .command('set <file>')
    .description('store a JSON file as the new active version (active on every instance within a second)')
    .requiredOption('--comment <why>', 'why it changed (kept in the history; every save needs one)')
    .action(async (file: string, o: { comment?: string }) => {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        throw invalid(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not valid JSON'}`);
      }
      const v = await withApp((app) => app.get(ConfigStore).save(ACTOR, doc, o.comment));
      out(`config version ${v.version} is active`);
    });
  config
    .command('show [version]')
    .description('print the active version (or version N), provider keys masked')
    .action(async (version?: string) => {
      const v = await withApp((app) => app.get(ConfigStore).view(version === undefined ? undefined : Number(version)));
      printJson(v.document);
    });
  config
    .command('history')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const h = await withApp((app) => app.get(ConfigStore).history());
      if (o.json) printJson(h);
      else out(table(h.map((v) => ({ version: v.version, active: v.active ? '*' : '', at: v.createdAt, by: v.createdBy, comment: v.comment ?? '' })), ['version', 'active', 'at', 'by', 'comment']));
    });
  config
    .command('diff <from> <to>')
    .description('what changed between two versions, keys masked')
    .action(async (a: string, b: string) => {
      printJson(await withApp((app) => app.get(ConfigStore).diff(Number(a), Number(b))));
    });
  config
    .command('restore <version>')
    .description('make version N active again (as a new version with exactly its content)')
    .option('--comment <why>', 'why (kept in the history after "restore of version N")')
    .action(async (version: string, o: { comment?: string }) => {
      const v = await withApp((app) => app.get(ConfigStore).restore(ACTOR, Number(version), o.comment?.trim() || undefined));
      out(`config version ${v.version} (a copy of ${version}) is active`);
    });


  const exp = program.command('export').description('scheduled exports of usage and captures to S3-compatible buckets (gateway config `export.s3`)');
  exp
    .command('run')
    .description('export everything that can be exported now (whole windows older than the delay), whatever the schedule')
    .option('--destination <name>', 'only this destination')
    .option('--json', 'print JSON')
    .action(async (o: { destination?: string; json?: boolean }) => {
      const report = await withApp((app) => app.get(S3ExportService).run({ scheduled: false, only: o.destination }));
      if (o.json) printJson(report);
      else if (!report.ran) out(report.reason === 'locked' ? 'another Sluice process is exporting right now; nothing done' : 'no enabled export destinations (export.s3 in the gateway config)');
      else {
        for (const d of report.destinations) {
          out(`${d.destination}: ${d.objects.length} objects, ${d.rows.usage} usage rows, ${d.rows.capture} capture rows${d.rows.session !== undefined ? `, ${d.rows.session} session rows` : ''}${d.error ? ` — failed: ${d.error}` : ''}`);
          for (const x of d.objects) out(`  ${x.key}  ${x.rows} rows  ${x.bytes} bytes`);
        }
      }
      if (report.destinations.some((d) => d.error)) process.exitCode = 1;
    });
  exp
    .command('status')
    .description('per destination and kind: exported up to, rows and objects so far, last run and error')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const st = await withApp((app) => app.get(S3ExportService).status());
      if (o.json) printJson(st);
      else
        out(table(st.map((x) => ({ destination: x.destination + (x.configured ? '' : ' (not configured)') + (x.enabled || !x.configured ? '' : ' (disabled)'), kind: x.kind, exported_up_to: x.exportedUpTo ?? 'nothing yet', rows: x.rowsExported, objects: x.objectsExported, holds_purge: x.holdsPurge ? 'yes' : '', last_run: x.lastRunAt ?? 'never', error: x.lastError ?? '' })), ['destination', 'kind', 'exported_up_to', 'rows', 'objects', 'holds_purge', 'last_run', 'error']));
    });

  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof DomainError || e instanceof ConfigError) {
      process.stderr.write(`sluice: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`sluice: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  run(process.argv).then((code) => {
    process.exitCode = code;
  });
}
