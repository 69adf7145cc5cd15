import { DynamicModule, Global, Module } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { LOGGER, RUNTIME, Runtime } from './runtime';

@Global()
@Module({})
export class RuntimeModule {
  static forRoot(rt: Runtime): DynamicModule {
    return {
      module: RuntimeModule,
      providers: [
        { provide: RUNTIME, useValue: rt },
        { provide: LOGGER, useValue: rt.logger },
        { provide: MikroORM, useValue: rt.orm },
      ],
      exports: [RUNTIME, LOGGER, MikroORM],
    };
  }
}
