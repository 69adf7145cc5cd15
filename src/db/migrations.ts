import { Migration20261124000000_initial } from '../../migrations/Migration20261124000000_initial';
import { Migration20261201000000_auth } from '../../migrations/Migration20261201000000_auth';
import { Migration20261202000000_budgets } from '../../migrations/Migration20261202000000_budgets';
import { Migration20261203000000_config } from '../../migrations/Migration20261203000000_config';
import { Migration20261204000000_rollups } from '../../migrations/Migration20261204000000_rollups';
import { Migration20261205000000_tools } from '../../migrations/Migration20261205000000_tools';
import { Migration20261206000000_analytics } from '../../migrations/Migration20261206000000_analytics';
import { Migration20261207000000_logs } from '../../migrations/Migration20261207000000_logs';
import { Migration20261209000000_export } from '../../migrations/Migration20261209000000_export';
import { Migration20261210000000_analytics_summaries } from '../../migrations/Migration20261210000000_analytics_summaries';
import { Migration20261211000000_analytics_person_model } from '../../migrations/Migration20261211000000_analytics_person_model';
import { Migration20261212000000_analytics_active_hours } from '../../migrations/Migration20261212000000_analytics_active_hours';
import { Migration20261213000000_analytics_person_month } from '../../migrations/Migration20261213000000_analytics_person_month';
import { Migration20261214000000_analytics_fillfactor } from '../../migrations/Migration20261214000000_analytics_fillfactor';
import { Migration20261215000000_analytics_active_day } from '../../migrations/Migration20261215000000_analytics_active_day';
import { Migration20261216000000_analytics_person_model_month } from '../../migrations/Migration20261216000000_analytics_person_model_month';
import { Migration20261217000000_analytics_people } from '../../migrations/Migration20261217000000_analytics_people';
import { Migration20261218000000_export_sessions } from '../../migrations/Migration20261218000000_export_sessions';
import { Migration20261219000000_analytics_team } from '../../migrations/Migration20261219000000_analytics_team';
import { Migration20261220000000_analytics_isum } from '../../migrations/Migration20261220000000_analytics_isum';
import { Migration20261221000000_active_day_cover } from '../../migrations/Migration20261221000000_active_day_cover';
import { Migration20261222000000_active_day_quarters } from '../../migrations/Migration20261222000000_active_day_quarters';

/**
 * Migrations are listed, not discovered from a folder, so the same list works from `dist/`, from
 * ts-jest and from the CLI. Append new migrations here in order.
 */
export const MIGRATIONS = [
  { name: 'Migration20261124000000_initial', class: Migration20261124000000_initial },
  { name: 'Migration20261201000000_auth', class: Migration20261201000000_auth },
  { name: 'Migration20261202000000_budgets', class: Migration20261202000000_budgets },
  { name: 'Migration20261203000000_config', class: Migration20261203000000_config },
  { name: 'Migration20261204000000_rollups', class: Migration20261204000000_rollups },
  { name: 'Migration20261205000000_tools', class: Migration20261205000000_tools },
  { name: 'Migration20261206000000_analytics', class: Migration20261206000000_analytics },
  { name: 'Migration20261207000000_logs', class: Migration20261207000000_logs },
  { name: 'Migration20261209000000_export', class: Migration20261209000000_export },
  { name: 'Migration20261210000000_analytics_summaries', class: Migration20261210000000_analytics_summaries },
  { name: 'Migration20261211000000_analytics_person_model', class: Migration20261211000000_analytics_person_model },
  { name: 'Migration20261212000000_analytics_active_hours', class: Migration20261212000000_analytics_active_hours },
  { name: 'Migration20261213000000_analytics_person_month', class: Migration20261213000000_analytics_person_month },
  { name: 'Migration20261214000000_analytics_fillfactor', class: Migration20261214000000_analytics_fillfactor },
  { name: 'Migration20261215000000_analytics_active_day', class: Migration20261215000000_analytics_active_day },
  { name: 'Migration20261216000000_analytics_person_model_month', class: Migration20261216000000_analytics_person_model_month },
  { name: 'Migration20261217000000_analytics_people', class: Migration20261217000000_analytics_people },
  { name: 'Migration20261218000000_export_sessions', class: Migration20261218000000_export_sessions },
  { name: 'Migration20261219000000_analytics_team', class: Migration20261219000000_analytics_team },
  { name: 'Migration20261220000000_analytics_isum', class: Migration20261220000000_analytics_isum },
  { name: 'Migration20261221000000_active_day_cover', class: Migration20261221000000_active_day_cover },
  { name: 'Migration20261222000000_active_day_quarters', class: Migration20261222000000_active_day_quarters },
];
