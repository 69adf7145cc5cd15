import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { AUDIT_SORTS, AuditLogService } from './audit-log.service';
import { listQuery, pageQuery, qs, render, withNav } from './ui-support';

/** The audit log page: every administrative change, filterable, newest first. */
@Controller('ui/audit')
export class AuditUiController {
  constructor(private readonly audit: AuditLogService) {}

  @Get()
  async list(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const q = listQuery(req);
    const f = { org: qs(q.org), actor: qs(q.actor), action: qs(q.action), target: qs(q.target) };
    const page = await this.audit.list(actor, f, pageQuery(q, AUDIT_SORTS, { sort: 'time', dir: 'desc' }));
    const rows = page.items.map((r) => ({ ...r, beforeJson: r.before ? JSON.stringify(r.before) : null, afterJson: r.after ? JSON.stringify(r.after) : null }));
    render(req, res, 'audit/index', 'partials/audit/list', {
      title: 'Audit log',
      nav: 'audit',
      filters: f,
      orgs: actor.globalAdmin ? null : actor.orgs.filter((o) => o.role === 'admin'),
      rows,
      ...withNav('/ui/audit', q, page, AUDIT_SORTS),
    });
  }
}
