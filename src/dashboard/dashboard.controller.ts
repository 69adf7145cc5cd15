import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { MyDashboardService } from '../usage/my-dashboard.service';
import { renderAnalytics, sendCsv, viewerTz } from './analytics-http';

/** A person's dashboard: `/ui` for the viewer, `/ui/dashboard/:email` for admins looking at someone. */
@Controller('ui')
export class DashboardController {
  constructor(private readonly dash: MyDashboardService) {}

  @Get()
  async home(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    renderAnalytics(req, res, 'home', 'partials/home/body', {}, await this.dash.page(actor, undefined, req.query, viewerTz(req)));
  }

  @Get('me/models.json')
  myModels(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.dash.modelsChart(actor, undefined, req.query, viewerTz(req));
  }

  @Get('me/activity.json')
  myActivity(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.dash.activityChart(actor, undefined, req.query, viewerTz(req));
  }

  @Get('me/models.csv')
  async myModelsCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.dash.modelsCsv(actor, undefined, req.query, viewerTz(req)));
  }

  @Get('me/activity.csv')
  async myActivityCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.dash.activityCsv(actor, undefined, req.query, viewerTz(req)));
  }

  @Get('dashboard/:email')
  async person(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('email') email: string) {
    renderAnalytics(req, res, 'home', 'partials/home/body', {}, await this.dash.page(actor, email, req.query, viewerTz(req)));
  }

  @Get('dashboard/:email/models.json')
  personModels(@Req() req: Request, @CurrentActor() actor: Actor, @Param('email') email: string) {
    return this.dash.modelsChart(actor, email, req.query, viewerTz(req));
  }

  @Get('dashboard/:email/activity.json')
  personActivity(@Req() req: Request, @CurrentActor() actor: Actor, @Param('email') email: string) {
    return this.dash.activityChart(actor, email, req.query, viewerTz(req));
  }

  @Get('dashboard/:email/models.csv')
  async personModelsCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('email') email: string) {
    sendCsv(res, await this.dash.modelsCsv(actor, email, req.query, viewerTz(req)));
  }

  @Get('dashboard/:email/activity.csv')
  async personActivityCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('email') email: string) {
    sendCsv(res, await this.dash.activityCsv(actor, email, req.query, viewerTz(req)));
  }
}
