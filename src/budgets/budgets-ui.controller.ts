import { Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { isHtmx, renderPage } from '../common/htmx';
import { tableNav } from '../common/paging';
import { formatAmount } from '../common/views';
import { parseInput } from '../orgs/admin-inputs';
import { noStore, pageQuery, qs } from '../orgs/ui-support';
import { BudgetAdminService, BudgetItem } from './budget-admin.service';
import { budgetCreateInput, budgetUpdateInput, fromForm, rateLimitInput, refillInput } from './budget-inputs';
import { BUDGET_METRICS, BUDGET_PERIODS, LIMIT_KINDS } from './budget.types';
import { EVENT_SORTS } from './budgets-dashboard.repository';

const orgBase = (slug: string) => `/ui/orgs/${encodeURIComponent(slug)}`;
const listUrl = (slug: string) => `/ui/budgets?org=${encodeURIComponent(slug)}`;
const TIME_ZONES = Intl.supportedValuesOf('timeZone');
const AMOUNT_FIELDS = { limitAmount: 'limit', surplusUserLimitAmount: 'surplusUserLimit' };

/** RFC 4180 field; a leading formula character is neutralised so spreadsheets do not evaluate it. */
const csv = (v: unknown) => {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * Budget pages: the list (admins manage, members see what applies to them), the create/edit,
 * refill and pause forms, rate limits, and the budget dashboard (charts, consumption events).
 */
@Controller('ui')
export class BudgetsUiController {
  constructor(private readonly budgets: BudgetAdminService) {}

  // The list -----------------------------------------------------------------------------------

  @Get('budgets')
  async list(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const { scope, orgs } = await this.budgets.pickOrg(actor, qs(req.query.org));
    if (!scope) {
      renderPage(req, res, 'budgets/index', 'partials/budgets/list', { title: 'Budgets', nav: 'budgets', orgs, noOrg: true });
      return;
    }
    const [budgets, alerts] = await Promise.all([this.budgets.listIn(actor, scope), this.budgets.alerts(actor, scope)]);
    renderPage(req, res, 'budgets/index', 'partials/budgets/list', {
      title: `Budgets · ${scope.org.name}`,
      nav: 'budgets',
      org: scope.org,
      orgs,
      isAdmin: scope.role === 'admin',
      base: orgBase(scope.org.slug),
      budgets,
      pools: budgets.filter((b) => b.scopeType === 'pool'),
      alerts: alerts.map((a) => ({ ...a, usedText: formatAmount(a.used, a.metric), limitText: formatAmount(a.limit, a.metric) })),
    });
  }

  // The dashboard -----------------------------------------------------------------------------

  @Get('budgets/dashboard')
  async dashboard(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const { scope, orgs } = await this.budgets.pickOrg(actor, qs(req.query.org));
    if (!scope) {
      renderPage(req, res, 'budgets/dashboard', 'partials/budgets/dashboard-body', { title: 'Budget dashboard', nav: 'budgets', orgs, noOrg: true });
      return;
    }
    const q = { ...(req.query as Record<string, unknown>), org: scope.org.slug };
    const pq = pageQuery(q, EVENT_SORTS, { sort: 'created', dir: 'desc' });
    const [{ page, query }, users, alerts] = await Promise.all([
      this.budgets.events(actor, scope.org.slug, q, { ...pq, per: 25 }),
      this.budgets.userChoices(actor, scope),
      this.budgets.alerts(actor, scope),
    ]);
    const filterQs = new URLSearchParams();
    filterQs.set('org', scope.org.slug);
    for (const [k, v] of Object.entries(query)) {
      if (Array.isArray(v)) v.forEach((x) => filterQs.append(k, x));
      else if (v !== undefined) filterQs.set(k, v);
    }
    const data = {
      title: `Budget dashboard · ${scope.org.name}`,
      nav: 'budgets',
      org: scope.org,
      orgs,
      isAdmin: scope.role === 'admin',
      filters: query,
      users: users.map((u) => ({ ...u, selected: query.users.includes(u.id) })),
      single: query.users.length === 1 ? users.find((u) => u.id === query.users[0]) : undefined,
      chartQs: filterQs.toString(),
      page: { ...page, items: page.items.map((e) => ({ ...e, amountText: formatAmount(e.amount, e.resourceType) })) },
      tbl: tableNav('/ui/budgets/dashboard', { ...q, ...query }, page, EVENT_SORTS),
      alerts: alerts.map((a) => ({ ...a, usedText: formatAmount(a.used, a.metric), limitText: formatAmount(a.limit, a.metric) })),
      resources: ['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests'],
      poolCategories: ['allocated', 'surplus', 'hybrid'],
      ioTypes: ['input', 'output', 'total'],
    };
    res.vary('HX-Target');
    // Page turns and sorts replace only the table; filters replace charts and table.
    if (isHtmx(req) && req.headers['hx-target'] === 'div#events') {
      res.vary('HX-Request');
      res.render('partials/budgets/events', { ...data, layout: false });
      return;
    }
    renderPage(req, res, 'budgets/dashboard', 'partials/budgets/dashboard-body', data);
  }

  @Get('budgets/dashboard/consumption.json')
  async consumption(@Req() req: Request, @CurrentActor() actor: Actor) {
    const { scope } = await this.budgets.pickOrg(actor, qs(req.query.org));
    if (!scope) return { options: {}, data: [[]] };
    return this.budgets.consumptionChart(actor, scope.org.slug, req.query as Record<string, unknown>);
  }

  @Get('budgets/dashboard/surplus.json')
  async surplus(@Req() req: Request, @CurrentActor() actor: Actor) {
    const { scope } = await this.budgets.pickOrg(actor, qs(req.query.org));
    if (!scope) return { options: {}, data: [[]] };
    return this.budgets.surplusChart(actor, scope.org.slug, req.query as Record<string, unknown>);
  }

  @Get('budgets/dashboard/events.csv')
  async eventsCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const { scope } = await this.budgets.pickOrg(actor, qs(req.query.org));
    const rows = scope ? (await this.budgets.allEvents(actor, scope.org.slug, req.query as Record<string, unknown>)).rows : [];
    const head = ['created', 'user_id', 'user_email', 'end_user', 'budget', 'amount', 'amount_display', 'resource_type', 'pool_category', 'io_type', 'request_id', 'endpoint'];
    const lines = [head.join(',')];
    for (const e of rows) lines.push([e.createdAt, e.userId, e.userEmail, e.endUser, e.budgetName, e.amount, formatAmount(e.amount, e.resourceType), e.resourceType, e.poolCategory, e.ioType, e.requestId, e.endpoint].map(csv).join(','));
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader('content-disposition', `attachment; filename="consumption-${scope?.org.slug ?? 'none'}.csv"`);
    res.send(lines.join('\r\n') + '\r\n');
  }

  // Create, edit, refill, pause, delete -------------------------------------------------------

  @Get('orgs/:org/budgets/new')
  async newBudget(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const form = await this.budgets.form(actor, ref);
    renderPage(req, res, 'budgets/new', 'budgets/new', {
      title: `New budget · ${form.scope.org.name}`,
      nav: 'budgets',
      org: form.scope.org,
      base: orgBase(form.scope.org.slug),
      options: form.options,
      pools: form.pools,
      metrics: BUDGET_METRICS,
      periods: BUDGET_PERIODS,
      timeZones: TIME_ZONES,
    });
  }

  @Post('orgs/:org/budgets')
  async create(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const body = fromForm(req.body, String((req.body as Record<string, unknown>)?.metric ?? ''), AMOUNT_FIELDS);
    const r = await this.budgets.create(actor, ref, parseInput(budgetCreateInput, body));
    this.showDetail(req, res, r.budget, { created: true, webhookSecret: r.webhookSecret });
  }

  @Get('orgs/:org/budgets/:budget')
  async show(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    const { budget } = await this.budgets.get(actor, ref, id);
    this.showDetail(req, res, budget, {}, actor);
  }

  @Post('orgs/:org/budgets/:budget')
  async update(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    const { budget } = await this.budgets.get(actor, ref, id);
    const r = await this.budgets.update(actor, ref, id, parseInput(budgetUpdateInput, fromForm(req.body, budget.metric, AMOUNT_FIELDS)));
    this.after(req, res, r.budget, { saved: 'Saved.', webhookSecret: r.webhookSecret });
  }

  @Post('orgs/:org/budgets/:budget/refill')
  async refill(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    const { budget } = await this.budgets.get(actor, ref, id);
    const b = await this.budgets.refill(actor, ref, id, parseInput(refillInput, fromForm(req.body, budget.metric, { amount: 'amount' })));
    this.after(req, res, b, { saved: 'Refilled.' });
  }

  @Post('orgs/:org/budgets/:budget/pause')
  async pause(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    this.after(req, res, await this.budgets.setPaused(actor, ref, id, true), { saved: 'Paused: requests it governs are refused until you resume it.' });
  }

  @Post('orgs/:org/budgets/:budget/resume')
  async resume(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    this.after(req, res, await this.budgets.setPaused(actor, ref, id, false), { saved: 'Resumed.' });
  }

  @Post('orgs/:org/budgets/:budget/delete')
  async remove(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('budget') id: string) {
    const s = await this.budgets.remove(actor, ref, id);
    if (isHtmx(req)) {
      res.setHeader('HX-Redirect', listUrl(s.org.slug));
      res.status(200).end();
    } else res.redirect(303, listUrl(s.org.slug));
  }

  /** After a change: htmx gets the refreshed detail, a plain form post is redirected (post/redirect/get). */
  private after(req: Request, res: Response, budget: BudgetItem, extra: { saved?: string; webhookSecret?: string }) {
    if (isHtmx(req) || extra.webhookSecret) {
      res.status(200);
      this.showDetail(req, res, budget, extra);
    } else res.redirect(303, `${orgBase(budget.org)}/budgets/${budget.id}`);
  }

  private showDetail(req: Request, res: Response, budget: BudgetItem, extra: { created?: boolean; saved?: string; webhookSecret?: string }, actor?: Actor) {
    // A webhook secret is on this response only: keep it out of caches and history.
    if (extra.webhookSecret || extra.created) noStore(res);
    if (extra.created) res.status(201);
    const isAdmin = actor ? actor.globalAdmin || actor.orgs.some((o) => o.slug === budget.org && o.role === 'admin') : true;
    renderPage(req, res, 'budgets/show', 'partials/budgets/detail', {
      title: budget.name,
      nav: 'budgets',
      budget,
      isAdmin,
      base: `${orgBase(budget.org)}/budgets/${budget.id}`,
      listUrl: listUrl(budget.org),
      dashUrl: `/ui/budgets/dashboard?org=${encodeURIComponent(budget.org)}&budget=${budget.id}`,
      windowText: windowText(budget),
      ...extra,
    });
  }

  // Rate limits -------------------------------------------------------------------------------

  @Get('orgs/:org/rate-limits')
  async rateLimits(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.renderLimits(req, res, actor, ref);
  }

  private async renderLimits(req: Request, res: Response, actor: Actor, ref: string, saved?: string) {
    const [{ scope, limits }, form] = await Promise.all([this.budgets.rateLimits(actor, ref), this.budgets.form(actor, ref)]);
    renderPage(req, res, 'budgets/rate-limits', 'partials/budgets/rate-limits', {
      title: `Rate limits · ${scope.org.name}`,
      nav: 'budgets',
      org: scope.org,
      base: orgBase(scope.org.slug),
      limits,
      kinds: LIMIT_KINDS,
      options: form.options,
      saved,
    });
  }

  @Post('orgs/:org/rate-limits')
  async setRateLimit(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const body = { ...(req.body as Record<string, unknown>) };
    // The form sets every kind of the scope: an empty field clears that kind.
    for (const k of LIMIT_KINDS) if (!(k in body)) body[k] = '';
    await this.budgets.setRateLimit(actor, ref, parseInput(rateLimitInput, body));
    if (isHtmx(req)) {
      res.status(200);
      await this.renderLimits(req, res, actor, ref, 'Saved.');
    } else res.redirect(303, `${orgBase(ref)}/rate-limits`);
  }
}

function windowText(b: BudgetItem): string {
  if (b.windowKind === 'calendar') return `each ${b.period} (${b.timeZone})`;
  if (b.windowKind === 'rolling') {
    const s = b.rollingSeconds ?? 0;
    return `rolling ${s % 86400 === 0 ? `${s / 86400} d` : s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`}`;
  }
  const perHour = (b.refillPerSecond ?? 0) * 3600;
  return `bucket refilling ${formatAmount(Math.round(perHour), b.metric)} per hour`;
}
