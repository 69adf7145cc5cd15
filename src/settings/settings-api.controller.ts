import { Body, Controller, Get, HttpCode, Param, Post, Query, UseFilters } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { SettingsErrorFilter } from './settings-error.filter';
import { SettingsService } from './settings.service';

/**
 * The gateway config through the management API (global admins, or their own admin tokens).
 * Provider keys are write-only here too: every document comes back with `••••last4`.
 */
@Controller('api/v1/config')
@UseFilters(SettingsErrorFilter)
export class SettingsApiController {
  constructor(private readonly settings: SettingsService) {}

  @Get()
  active(@CurrentActor() a: Actor) {
    return this.settings.active(a);
  }

  @Post()
  save(@CurrentActor() a: Actor, @Body() body: unknown) {
    return this.settings.saveApi(a, body);
  }

  @Get('versions')
  async versions(@CurrentActor() a: Actor) {
    return { data: await this.settings.history(a) };
  }

  @Get('versions/:version')
  version(@CurrentActor() a: Actor, @Param('version') n: string) {
    return this.settings.version(a, n).then(({ meta, document }) => ({ version: meta, document }));
  }

  @Post('versions/:version/restore')
  restore(@CurrentActor() a: Actor, @Param('version') n: string, @Body() body: { reason?: unknown } | undefined) {
    return this.settings.restore(a, n, body?.reason);
  }

  @Get('diff')
  diff(@CurrentActor() a: Actor, @Query('from') from: unknown, @Query('to') to: unknown) {
    return this.settings.diff(a, from, to);
  }

  @Post('validate')
  @HttpCode(200)
  validate(@CurrentActor() a: Actor, @Body() body: unknown) {
    return this.settings.validateApi(a, body);
  }

  @Post('test-connection')
  @HttpCode(200)
  testConnection(@CurrentActor() a: Actor, @Body() body: unknown) {
    return this.settings.testConnectionApi(a, body);
  }
}
