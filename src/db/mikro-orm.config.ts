import { defineConfig, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

/** One place builds the ORM options, for the server, the CLI and the tests alike. */
export function buildOrmConfig(clientUrl: string, poolMax = 10, log: (msg: string) => void = () => undefined) {
  return defineConfig({
    driver: PostgreSqlDriver,
    clientUrl,
    entities: ENTITIES,
    extensions: [Migrator],
    migrations: {
      migrationsList: MIGRATIONS,
      tableName: 'sluice_migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    pool: { min: 0, max: poolMax },
    // The hot path never uses the global context; request-scoped forks come from the Nest module.
    allowGlobalContext: false,
    debug: false,
    logger: log,
    ensureDatabase: false,
  });
}
