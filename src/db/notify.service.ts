import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Client, Notification } from 'pg';
import type { Logger } from 'pino';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';

type Handler = (payload: string) => void;

/**
 * One LISTEN connection per process, shared by every cache that must hear about changes made by
 * other instances (token revocation, config versions). When the connection drops, notifications
 * may have been missed, so subscribers' `onReconnect` callbacks run (they flush their caches).
 */
@Injectable()
export class NotifyService implements OnModuleInit, OnApplicationShutdown {
  private client?: Client;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly reconnectHooks = new Set<() => void>();
  private stopped = false;
  private retryMs = 250;
  private listening: Promise<void> = Promise.resolve();

  constructor(
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit() {
    await this.connect();
  }

  async onApplicationShutdown() {
    this.stopped = true;
    await this.client?.end().catch(() => undefined);
  }

  subscribe(channel: string, handler: Handler, onReconnect?: () => void): void {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      const client = this.client;
      // One query at a time on a pg client: queue LISTENs behind each other.
      if (client) this.listening = this.listening.then(() => client.query(`LISTEN ${channel}`)).then(() => undefined, () => undefined);
    }
    set.add(handler);
    if (onReconnect) this.reconnectHooks.add(onReconnect);
  }

  /** Sends a notification outside any transaction (use SQL pg_notify inside one). */
  async notify(channel: string, payload: string): Promise<void> {
    await this.rt.orm.em.getConnection().execute('select pg_notify(?, ?)', [channel, payload]);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.rt.databaseUrl, keepAlive: true });
    client.on('notification', (n: Notification) => {
      for (const h of this.handlers.get(n.channel) ?? []) {
        try {
          h(n.payload ?? '');
        } catch (e) {
          this.logger.error({ err: String(e), channel: n.channel }, 'notification handler failed');
        }
      }
    });
    const lost = () => {
      if (this.stopped || this.client !== client) return;
      this.client = undefined;
      this.logger.warn('LISTEN connection lost; reconnecting');
      setTimeout(() => void this.reconnect(), this.retryMs).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    this.client = client;
    this.retryMs = 250;
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connect();
      for (const hook of this.reconnectHooks) hook();
      this.logger.info('LISTEN connection restored');
    } catch {
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
      setTimeout(() => void this.reconnect(), this.retryMs).unref();
    }
  }
}
