import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { renderPage } from '../common/htmx';
import { DashboardService } from './dashboard.service';

@Controller('ui')
export class DashboardController {
  constructor(private readonly dashboard: DashboardService) {}

  @Get()
  async home(@Req() req: Request, @Res() res: Response) {
    renderPage(req, res, 'home', 'partials/home/body', { title: 'Dashboard', nav: 'home', ...(await this.dashboard.home()) });
  }
}
