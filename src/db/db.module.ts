import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../config/runtime';
import { NotifyService } from './notify.service';
import { createPgPool, createReservePool, PgPool, ReservePool } from './pg-pool';

@Global()
@Module({
  providers: [
    { provide: PgPool, useFactory: (rt: Runtime) => createPgPool(rt.databaseUrl, 4), inject: [RUNTIME] },
    { provide: ReservePool, useFactory: (rt: Runtime) => createReservePool(rt.databaseUrl, 8), inject: [RUNTIME] },
    NotifyService,
  ],
  exports: [PgPool, ReservePool, NotifyService],
})
export class DbModule implements OnApplicationShutdown {
  constructor(
    @Inject(PgPool) private readonly pool: PgPool,
    @Inject(ReservePool) private readonly reservePool: ReservePool,
  ) {}

  // Runs after every other module's shutdown hook that may still write (the usage writer).
  async onApplicationShutdown() {
    await Promise.all([this.pool.end().catch(() => undefined), this.reservePool.end().catch(() => undefined)]);
  }
}
