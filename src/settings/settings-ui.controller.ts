import { Body, Controller, Get, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { isHtmx, renderPage } from '../common/htmx';
import { noStore } from '../orgs/ui-support';
import { fieldsOf, one } from './settings-form';
import { SettingsErrorFilter } from './settings-error.filter';
import { SettingsService } from './settings.service';
import { SettingsViews } from './settings-views';
import { S3ExportService } from '../logs/s3-export.service';
import { forbidden } from '../auth/access.service';

const PAGE_SCRIPTS = ['/static/js/settings.js'];

/**
 * The settings pages (global admins): the visual and JSON editors of the gateway config, the
 * grant preview, "test connection", and the version history with view, diff and restore.
 */
@Controller('ui/settings')
@UseFilters(SettingsErrorFilter)
export class SettingsUiController {
  constructor(
    private readonly settings: SettingsService,
    private readonly views: SettingsViews,
    private readonly exports: S3ExportService,
  ) {}

  /** Where each S3 export destination stands: per kind, how far it got, its last run and error. */
  @Get('export')
  async exportStatus(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor) {
    if (!a.globalAdmin) throw forbidden('Export status is for global admins.');
    noStore(res);
    const rows = (await this.exports.status()).map((d) => ({ ...d, failing: !!d.lastError }));
    renderPage(req, res, 'settings/export', 'settings/export', { title: 'S3 export', nav: 'settings', rows, none: rows.length === 0 });
  }

  @Get()
  async editor(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Query('tab') tab?: string, @Query('saved') saved?: string) {
    noStore(res);
    const data = await this.views.editor(a, { tab: tab === 'json' ? 'json' : 'visual', saved: /^\d+$/.test(saved ?? '') ? Number(saved) : undefined });
    renderPage(req, res, 'settings/index', 'partials/settings/editor', { ...data, pageScripts: PAGE_SCRIPTS });
  }

  @Post('save')
  async save(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown) {
    const v = await this.settings.saveForm(a, fieldsOf(body));
    await this.afterSave(req, res, a, v.version, 'visual');
  }

  @Post('save-json')
  async saveJson(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown) {
    const f = fieldsOf(body);
    const v = await this.settings.saveText(a, f.get('json')?.[0] ?? '', one(f, 'reason'), one(f, 'baseVersion'));
    await this.afterSave(req, res, a, v.version, 'json');
  }

  private async afterSave(req: Request, res: Response, a: Actor, version: number, tab: 'visual' | 'json') {
    if (!isHtmx(req)) return res.redirect(303, `/ui/settings?tab=${tab}&saved=${version}`);
    noStore(res);
    res.status(200);
    renderPage(req, res, 'settings/index', 'partials/settings/editor', await this.views.editor(a, { tab, saved: version }));
  }

  @Post('validate')
  async validate(@Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown) {
    res.status(200).render('partials/settings/issues', { layout: false, issues: await this.settings.validateFields(a, fieldsOf(body)), checked: true });
  }

  @Post('preview')
  async preview(@Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown) {
    res.status(200).render('partials/settings/preview', { layout: false, preview: await this.views.preview(a, fieldsOf(body)) });
  }

  @Post('test-connection')
  async testConnection(@Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown) {
    res.status(200).render('partials/settings/probe', { layout: false, probe: await this.settings.testConnection(a, fieldsOf(body)) });
  }

  /** The draft moved from one editor to the other (`to=json` or `to=visual`). */
  @Post('convert')
  async convert(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Body() body: unknown, @Query('to') to?: string) {
    noStore(res);
    res.status(200);
    renderPage(req, res, 'settings/index', 'partials/settings/editor', { ...(await this.views.converted(a, fieldsOf(body), to === 'json' ? 'json' : 'visual')), pageScripts: PAGE_SCRIPTS });
  }

  @Get('history')
  async history(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor) {
    renderPage(req, res, 'settings/history', 'partials/settings/history', await this.views.history(a, req.query as Record<string, unknown>));
  }

  @Get('diff')
  async diff(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Query('from') from: unknown, @Query('to') to: unknown) {
    noStore(res);
    renderPage(req, res, 'settings/diff', 'partials/settings/diff', await this.views.diff(a, from, to));
  }

  @Get('versions/:version')
  async version(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Param('version') n: string, @Query('restored') restored?: string) {
    noStore(res);
    renderPage(req, res, 'settings/version', 'settings/version', await this.views.version(a, n, restored));
  }

  @Post('versions/:version/restore')
  async restore(@Req() req: Request, @Res() res: Response, @CurrentActor() a: Actor, @Param('version') n: string, @Body() body: unknown) {
    const v = await this.settings.restore(a, n, one(fieldsOf(body), 'reason'));
    const to = `/ui/settings/versions/${v.version}?restored=${encodeURIComponent(n)}`;
    if (isHtmx(req)) {
      res.setHeader('HX-Redirect', to);
      res.status(200).end();
    } else res.redirect(303, to);
  }
}
