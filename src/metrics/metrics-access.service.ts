import { Inject, Injectable } from '@nestjs/common';
import { BlockList, isIPv4 } from 'node:net';
import type { Request } from 'express';
import { DomainError, ErrorCode } from '../common/errors';
import { RUNTIME, type Runtime } from '../config/runtime';
import { PrincipalCacheService } from '../tokens/principal-cache.service';

/**
 * /metrics is readable with an API token that has the `metrics` scope, or from the addresses in
 * METRICS_ALLOW (IPs or CIDRs; none by default). Everything else gets 401/403, without hints.
 */
@Injectable()
export class MetricsAccess {
  private readonly allow = new BlockList();
  private readonly hasAllow: boolean;

  constructor(
    private readonly principals: PrincipalCacheService,
    @Inject(RUNTIME) rt: Runtime,
  ) {
    for (const entry of rt.env.METRICS_ALLOW ?? []) {
      const [addr, bits] = entry.split('/');
      const type = isIPv4(addr) ? 'ipv4' : 'ipv6';
      if (bits) this.allow.addSubnet(addr, Number(bits), type);
      else this.allow.addAddress(addr, type);
    }
    this.hasAllow = (rt.env.METRICS_ALLOW ?? []).length > 0;
  }

  async check(req: Request): Promise<void> {
    const auth = req.headers.authorization;
    const m = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
    if (m) {
      const r = await this.principals.authenticate(m[1]);
      if (!r.ok) throw new DomainError(ErrorCode.Unauthenticated, 'invalid API key');
      if (!r.principal.scopes.includes('metrics')) throw new DomainError(ErrorCode.Forbidden, 'this API key lacks the metrics scope');
      return;
    }
    const ip = (req.ip ?? req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (this.hasAllow && ip && this.allow.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')) return;
    throw new DomainError(ErrorCode.Unauthenticated, 'metrics need an API token with the metrics scope (or an address listed in METRICS_ALLOW)');
  }
}
