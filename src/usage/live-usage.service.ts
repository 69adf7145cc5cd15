import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Actor } from '../auth/actor';
import { NotifyService } from '../db/notify.service';
import { USAGE_CHANNEL } from './usage-signal';

/**
 * "Has anything changed?" for live mode, answered from memory. Every usage writer (this process or
 * another on the same database) sends `NOTIFY sluice_usage '<org>:<ms>'` once per committed batch;
 * this keeps the latest value per organization. A version is the largest value over the
 * organizations a page shows, so it only grows, and equal versions mean nothing new was written.
 * When the LISTEN connection was lost, notifications may have been missed: every version jumps to
 * the reconnect time so open pages refresh once.
 */
@Injectable()
export class LiveUsageService implements OnModuleInit {
  private readonly latest = new Map<string, number>();
  private any = 0;
  private floor = 0;

  constructor(private readonly notify: NotifyService) {}

  onModuleInit() {
    this.notify.subscribe(USAGE_CHANNEL, (payload) => this.onSignal(payload), () => {
      this.floor = Date.now();
    });
  }

  /** Applies one notification payload (also used by tests). */
  onSignal(payload: string): void {
    const i = payload.lastIndexOf(':');
    const org = payload.slice(0, i);
    const at = Number(payload.slice(i + 1));
    if (!org || !Number.isFinite(at)) return;
    if (at > (this.latest.get(org) ?? 0)) this.latest.set(org, at);
    if (at > this.any) this.any = at;
  }

  /** The version of what a page over these organizations (null: all of them) shows. */
  version(orgIds: string[] | null): number {
    let v = this.floor;
    if (orgIds === null) return Math.max(v, this.any);
    for (const id of orgIds) v = Math.max(v, this.latest.get(id) ?? 0);
    return v;
  }

  /**
   * The live-mode poll: `org` is 'all' or a comma-separated list of organization ids as the page
   * embedded it. Only organizations the actor may see count (no database read: the actor already
   * carries its memberships).
   */
  versionFor(actor: Actor, org: string | undefined): { v: number } {
    const global = actor.globalAdmin && !actor.confinedToOrgId;
    if (!org || org === 'all') return { v: this.version(global ? null : this.visible(actor)) };
    const asked = org.split(',').slice(0, 100);
    const ids = global ? asked : asked.filter((id) => this.visible(actor).includes(id));
    return { v: this.version(ids) };
  }

  private visible(actor: Actor): string[] {
    return actor.orgs.map((o) => o.orgId).filter((id) => !actor.confinedToOrgId || id === actor.confinedToOrgId);
  }
}
