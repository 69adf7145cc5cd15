import { Injectable } from '@nestjs/common';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditEvent } from './audit-event.entity';

export interface AuditEntry {
  /** `user:<email>`, `token:<id>` or `cli`. */
  actor: string;
  orgId?: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/** Records administrative changes inside the caller's unit of work, so they commit together. */
@Injectable()
export class AuditService {
  record(em: EntityManager, e: AuditEntry): void {
    em.create(AuditEvent, {
      actor: e.actor,
      orgId: e.orgId ?? null,
      action: e.action,
      targetType: e.targetType,
      targetId: e.targetId ?? null,
      before: e.before ?? null,
      after: e.after ?? null,
    });
  }
}
