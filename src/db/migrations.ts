import { Migration20261124000000_initial } from '../../migrations/Migration20261124000000_initial';

/**
 * Migrations are listed, not discovered from a folder, so the same list works from `dist/`, from
 * ts-jest and from the CLI. Append new migrations here in order.
 */
export const MIGRATIONS = [{ name: 'Migration20261124000000_initial', class: Migration20261124000000_initial }];
