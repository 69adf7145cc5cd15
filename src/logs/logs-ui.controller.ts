import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { isHtmx, renderPage } from '../common/htmx';
import { LogsService } from './logs.service';

/**
 * The logs page (sessions, their requests, one request's capture), request exports, and the tool
 * use page. Filters live in the query string, so every view is a shareable URL; htmx asks the same
 * URLs and gets the partials.
 */
@Controller('ui')
export class LogsUiController {
  constructor(private readonly logs: LogsService) {}

  @Get('logs')
  async list(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const data = await this.logs.logsPage(actor, req.query as Record<string, unknown>);
    res.vary('HX-Target');
    // Page turns and sorts replace only the sessions table; filters replace the whole body.
    if (isHtmx(req) && req.headers['hx-target'] === 'div#sessions') {
      res.vary('HX-Request');
      res.render('partials/logs/sessions', { ...data, layout: false });
      return;
    }
    renderPage(req, res, 'logs/index', 'partials/logs/body', { title: 'Logs', nav: 'logs', ...data });
  }

  @Get('logs/export.csv')
  exportCsv(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    return this.logs.export(actor, req.query as Record<string, unknown>, 'csv', res);
  }

  @Get('logs/export.jsonl')
  exportJsonl(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    return this.logs.export(actor, req.query as Record<string, unknown>, 'jsonl', res);
  }

  @Get('logs/sessions/:session')
  async session(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('session') id: string) {
    const data = await this.logs.sessionPage(actor, id, req.query as Record<string, unknown>);
    renderPage(req, res, 'logs/session', 'partials/logs/session-requests', { title: 'Session', nav: 'logs', ...data });
  }

  @Get('logs/requests/:request')
  async request(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('request') id: string) {
    const data = await this.logs.requestPage(actor, id);
    res.setHeader('cache-control', 'no-store');
    renderPage(req, res, 'logs/request', 'partials/logs/request-detail', { title: 'Request', nav: 'logs', ...data });
  }

  @Get('tools')
  async tools(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const data = await this.logs.toolsPage(actor, req.query as Record<string, unknown>);
    res.vary('HX-Target');
    if (isHtmx(req) && req.headers['hx-target'] === 'div#tool-sessions') {
      res.vary('HX-Request');
      res.render('partials/tools/sessions', { ...data, layout: false });
      return;
    }
    renderPage(req, res, 'tools/index', 'partials/tools/body', { title: 'Tool use', nav: 'tools', ...data });
  }

  @Get('tools/series.json')
  series(@Req() req: Request, @CurrentActor() actor: Actor) {
    return this.logs.toolsSeries(actor, req.query as Record<string, unknown>);
  }
}
