import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { AdoptionPageService } from '../usage/adoption-page.service';
import { renderAnalytics, sendCsv, viewerTz } from './analytics-http';

/** `/ui/adoption` for global and org admins, with its chart data and CSV exports. */
@Controller('ui/adoption')
export class AdoptionUiController {
  constructor(private readonly adoption: AdoptionPageService) {}

  @Get()
  async page(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    renderAnalytics(req, res, 'adoption/index', 'partials/adoption/body', { 'adoption-users': 'partials/adoption/users' }, await this.adoption.page(actor, req.query, viewerTz(req)));
  }

  @Get('active.json')
  active(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.adoption.activeChart(actor, req.query, viewerTz(req));
  }

  @Get('distribution.json')
  distribution(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.adoption.distributionChart(actor, req.query, viewerTz(req));
  }

  @Get('models.json')
  models(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.adoption.modelsChart(actor, req.query, viewerTz(req));
  }

  @Get('users.csv')
  async usersCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.adoption.usersCsv(actor, req.query, viewerTz(req)));
  }

  @Get('models.csv')
  async modelsCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.adoption.modelsCsv(actor, req.query, viewerTz(req)));
  }
}
