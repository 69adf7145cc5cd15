import { Injectable } from '@nestjs/common';
import { PgPool } from '../db/pg-pool';

/** Lists are capped: a picker with more entries than this is not usable anyway (a subject can be typed). */
export const CHOICE_LIMIT = 1000;

export interface OrgChoice {
  slug: string;
  name: string;
}
export interface TeamChoice {
  org: string;
  slug: string;
  name: string;
}
export interface UserChoice {
  email: string;
  name: string | null;
  org: string;
  /** Team slugs in that organization. */
  teams: string[];
}
export interface ServiceAccountChoice {
  org: string;
  name: string;
  team: string | null;
}
export interface TokenChoice {
  id: string;
  name: string;
  org: string;
  owner: string | null;
}

export interface SubjectChoices {
  orgs: OrgChoice[];
  teams: TeamChoice[];
  /** One row per membership: a person's subjects differ by organization. */
  users: UserChoice[];
  serviceAccounts: ServiceAccountChoice[];
  tokens: TokenChoice[];
}

/**
 * What grant subjects can name, read for the settings page (global admins only, so unscoped):
 * organizations, teams, people by membership, service accounts and live tokens.
 */
@Injectable()
export class SettingsRepository {
  constructor(private readonly pool: PgPool) {}

  async choices(): Promise<SubjectChoices> {
    const [orgs, teams, users, sas, tokens] = await Promise.all([
      this.pool.query<OrgChoice>('select slug, name from organization order by slug limit $1', [CHOICE_LIMIT]),
      this.pool.query<TeamChoice>('select o.slug as org, t.slug, t.name from team t join organization o on o.id = t.org_id order by o.slug, t.slug limit $1', [CHOICE_LIMIT]),
      this.pool.query<UserChoice>(
        `select lower(u.email) as email, u.display_name as name, o.slug as org,
                coalesce((select array_agg(t.slug order by t.slug) from team_member tm join team t on t.id = tm.team_id
                           where tm.user_id = u.id and t.org_id = m.org_id), '{}') as teams
           from membership m join app_user u on u.id = m.user_id join organization o on o.id = m.org_id
          order by lower(u.email), o.slug limit $1`,
        [CHOICE_LIMIT],
      ),
      this.pool.query<ServiceAccountChoice>(
        `select o.slug as org, sa.name, t.slug as team from service_account sa join organization o on o.id = sa.org_id left join team t on t.id = sa.team_id
          where sa.disabled_at is null order by o.slug, sa.name limit $1`,
        [CHOICE_LIMIT],
      ),
      this.pool.query<TokenChoice>(
        `select tk.id, tk.name, o.slug as org, coalesce(u.email, sa.name) as owner
           from api_token tk join organization o on o.id = tk.org_id
           left join app_user u on u.id = tk.owner_user_id left join service_account sa on sa.id = tk.service_account_id
          where tk.revoked_at is null and (tk.expires_at is null or tk.expires_at > now()) and 'proxy' = any(tk.scopes)
          order by o.slug, tk.name limit $1`,
        [CHOICE_LIMIT],
      ),
    ]);
    return { orgs: orgs.rows, teams: teams.rows, users: users.rows, serviceAccounts: sas.rows, tokens: tokens.rows };
  }
}
