import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put } from '@nestjs/common';
import { AccessService } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { parseOrgInput } from '../orgs/admin-inputs';
import { BudgetAdminService } from './budget-admin.service';
import { budgetCreateInput, budgetUpdateInput, rateLimitInput, refillInput } from './budget-inputs';

/**
 * Management API for budgets and rate limits. Same service, rules and validation as the pages:
 * admins of the organization manage, members read the budgets that apply to them. Amounts are in
 * the metric's unit (micro-dollars for cost), or in dollars through the `…Usd` fields.
 */
@Controller('api/v1/orgs/:org')
export class BudgetsApiController {
  constructor(
    private readonly access: AccessService,
    private readonly budgets: BudgetAdminService,
  ) {}

  @Get('budgets')
  async list(@CurrentActor() a: Actor, @Param('org') org: string) {
    return { data: (await this.budgets.list(a, org)).budgets };
  }

  @Post('budgets')
  async create(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    const r = await this.budgets.create(a, org, await parseOrgInput(this.access, a, org, budgetCreateInput, body));
    return { ...r.budget, ...(r.webhookSecret ? { webhookSecret: r.webhookSecret } : {}) };
  }

  @Get('budgets/:budget')
  async get(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string) {
    return (await this.budgets.get(a, org, id)).budget;
  }

  @Patch('budgets/:budget')
  async update(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string, @Body() body: unknown) {
    const r = await this.budgets.update(a, org, id, await parseOrgInput(this.access, a, org, budgetUpdateInput, body));
    return { ...r.budget, ...(r.webhookSecret ? { webhookSecret: r.webhookSecret } : {}) };
  }

  @Delete('budgets/:budget')
  @HttpCode(204)
  async remove(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string) {
    await this.budgets.remove(a, org, id);
  }

  @Post('budgets/:budget/refill')
  @HttpCode(200)
  async refill(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string, @Body() body: unknown) {
    return this.budgets.refill(a, org, id, await parseOrgInput(this.access, a, org, refillInput, body));
  }

  @Post('budgets/:budget/pause')
  @HttpCode(200)
  pause(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string) {
    return this.budgets.setPaused(a, org, id, true);
  }

  @Post('budgets/:budget/resume')
  @HttpCode(200)
  resume(@CurrentActor() a: Actor, @Param('org') org: string, @Param('budget') id: string) {
    return this.budgets.setPaused(a, org, id, false);
  }

  @Get('rate-limits')
  async rateLimits(@CurrentActor() a: Actor, @Param('org') org: string) {
    return { data: (await this.budgets.rateLimits(a, org)).limits };
  }

  @Put('rate-limits')
  async setRateLimit(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.budgets.setRateLimit(a, org, await parseOrgInput(this.access, a, org, rateLimitInput, body));
  }
}
