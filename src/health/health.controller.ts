import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';
import { HealthService } from './health.service';

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** Process is up and serving; no dependencies checked, so orchestrators don't restart on a DB blip. */
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Database reachable and schema current: safe to route traffic here. */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) res: Response) {
    const r = await this.health.readiness();
    if (r.status !== 'ready') res.status(503);
    return r;
  }
}
