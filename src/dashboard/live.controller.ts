import { Controller, Get, Header, Query } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { LiveUsageService } from '../usage/live-usage.service';

/**
 * Live mode's "has anything changed?": a number that grows when usage is written for the
 * organizations a page shows. Answered from memory (no query), so polling every few seconds is
 * free for the database and the proxy.
 */
@Controller('ui/live')
export class LiveController {
  constructor(private readonly live: LiveUsageService) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  version(@CurrentActor() actor: Actor, @Query('org') org?: string) {
    return this.live.versionFor(actor, typeof org === 'string' ? org.slice(0, 4000) : undefined);
  }
}
