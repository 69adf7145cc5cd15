import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { ModelsPageService } from '../usage/models-page.service';
import { renderAnalytics, sendCsv, viewerTz } from './analytics-http';

/** `/ui/models`: the configured models with their usage, and its CSV export. */
@Controller('ui')
export class ModelsUiController {
  constructor(private readonly models: ModelsPageService) {}

  @Get('models')
  async page(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    renderAnalytics(req, res, 'models/index', 'partials/models/body', {}, await this.models.page(actor, req.query, viewerTz(req)));
  }

  @Get('models.csv')
  async csv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    sendCsv(res, await this.models.csv(actor, req.query, viewerTz(req)));
  }
}
