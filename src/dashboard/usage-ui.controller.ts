import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { PeoplePageService } from '../usage/people-page.service';
import { UsagePageService } from '../usage/usage-page.service';
import { isHtmx } from '../common/htmx';
import { renderAnalytics, sendCsv, viewerTz } from './analytics-http';

/** `/ui/usage` (Aqueduct's usage page) and `/ui/usage/people` (by user and by team), with their chart data and CSV exports. */
@Controller('ui/usage')
export class UsageUiController {
  constructor(
    private readonly usage: UsagePageService,
    private readonly people: PeoplePageService,
  ) {}

  @Get()
  async page(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    renderAnalytics(req, res, 'usage/index', 'partials/usage/body', { 'usage-top': 'partials/usage/top' }, await this.usage.page(actor, req.query, viewerTz(req)));
  }

  @Get('requests.json')
  requests(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.usage.requestsChart(actor, req.query, viewerTz(req));
  }

  @Get('models.json')
  models(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.usage.modelsChart(actor, req.query, viewerTz(req));
  }

  @Get('top.csv')
  async topCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.usage.topCsv(actor, req.query, viewerTz(req)));
  }

  @Get('models.csv')
  async modelsCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.usage.modelsCsv(actor, req.query, viewerTz(req)));
  }

  @Get('people')
  async peoplePage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    // htmx asks for the body or the table only: the filter form (its lists of keys, teams and tags) stays as it is.
    renderAnalytics(req, res, 'usage/people', 'partials/usage/people-body', { 'people-table': 'partials/usage/people-table' }, await this.people.page(actor, req.query, viewerTz(req), { withChoices: !isHtmx(req) }));
  }

  @Get('people/activity.json')
  peopleActivity(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.people.activityChart(actor, req.query, viewerTz(req));
  }

  @Get('people.csv')
  async peopleCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.people.csv(actor, req.query, viewerTz(req)));
  }
}
