import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { AccessService } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import type { Page } from '../common/paging';
import { memberAddInput, memberRoleInput, orgCreateInput, orgUpdateInput, parseInput, parseOrgInput, serviceAccountCreateInput, serviceAccountUpdateInput, teamCreateInput, teamMemberInput, teamUpdateInput } from './admin-inputs';
import { AUDIT_SORTS, AuditLogService } from './audit-log.service';
import { MEMBER_SORTS, MembersService } from './members.service';
import { ORG_SORTS, OrgAdminService } from './org-admin.service';
import { SA_SORTS, ServiceAccountsService } from './service-accounts.service';
import { TEAM_SORTS, TeamsService } from './teams.service';
import { pageQuery, qs } from './ui-support';

type Q = Record<string, unknown>;

/** The JSON envelope for lists: the rows and where they sit in the whole. */
export const listOf = <T>(p: Page<T>) => ({ data: p.items, page: p.page, per: p.per, total: p.total, pages: p.pages, sort: p.sort, dir: p.dir });

/**
 * Management API for organizations, members, teams, service accounts and the audit log. Same
 * services, rules and validation as the pages; `{org}` is an id or a slug.
 */
@Controller('api/v1')
export class OrgsApiController {
  constructor(
    private readonly access: AccessService,
    private readonly orgs: OrgAdminService,
    private readonly members: MembersService,
    private readonly teams: TeamsService,
    private readonly sas: ServiceAccountsService,
    private readonly audit: AuditLogService,
  ) {}

  @Get('me')
  me(@CurrentActor() a: Actor) {
    return {
      via: a.via,
      user: a.userId ? { id: a.userId, email: a.email, name: a.displayName } : null,
      tokenId: a.tokenId,
      globalAdmin: a.globalAdmin,
      organizations: a.orgs.map((o) => ({ id: o.orgId, slug: o.slug, name: o.name, role: o.role })),
    };
  }

  @Get('orgs')
  async listOrgs(@CurrentActor() a: Actor, @Query() q: Q) {
    return listOf(await this.orgs.list(a, { q: qs(q.q) }, pageQuery(q, ORG_SORTS, { sort: 'slug', dir: 'asc' })));
  }

  @Post('orgs')
  createOrg(@CurrentActor() a: Actor, @Body() body: unknown) {
    return this.orgs.create(a, parseInput(orgCreateInput, body));
  }

  @Get('orgs/:org')
  getOrg(@CurrentActor() a: Actor, @Param('org') org: string) {
    return this.orgs.get(a, org);
  }

  @Patch('orgs/:org')
  async updateOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.orgs.rename(a, org, (await parseOrgInput(this.access, a, org, orgUpdateInput, body)).name);
  }

  @Get('orgs/:org/members')
  async listMembers(@CurrentActor() a: Actor, @Param('org') org: string, @Query() q: Q) {
    return listOf((await this.members.list(a, org, { q: qs(q.q), role: qs(q.role) }, pageQuery(q, MEMBER_SORTS, { sort: 'email', dir: 'asc' }))).page);
  }

  @Post('orgs/:org/members')
  async addMember(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.members.add(a, org, await parseOrgInput(this.access, a, org, memberAddInput, body));
  }

  @Get('orgs/:org/members/:user')
  getMember(@CurrentActor() a: Actor, @Param('org') org: string, @Param('user') user: string) {
    return this.members.get(a, org, user);
  }

  @Patch('orgs/:org/members/:user')
  async setRole(@CurrentActor() a: Actor, @Param('org') org: string, @Param('user') user: string, @Body() body: unknown) {
    return this.members.setRole(a, org, user, (await parseOrgInput(this.access, a, org, memberRoleInput, body)).role);
  }

  @Delete('orgs/:org/members/:user')
  @HttpCode(204)
  async removeMember(@CurrentActor() a: Actor, @Param('org') org: string, @Param('user') user: string) {
    await this.members.remove(a, org, user);
  }

  @Get('orgs/:org/teams')
  async listTeams(@CurrentActor() a: Actor, @Param('org') org: string, @Query() q: Q) {
    return listOf((await this.teams.list(a, org, { q: qs(q.q) }, pageQuery(q, TEAM_SORTS, { sort: 'slug', dir: 'asc' }))).page);
  }

  @Post('orgs/:org/teams')
  async createTeam(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.teams.create(a, org, await parseOrgInput(this.access, a, org, teamCreateInput, body));
  }

  @Get('orgs/:org/teams/:team')
  getTeam(@CurrentActor() a: Actor, @Param('org') org: string, @Param('team') team: string) {
    return this.teams.get(a, org, team);
  }

  @Patch('orgs/:org/teams/:team')
  async updateTeam(@CurrentActor() a: Actor, @Param('org') org: string, @Param('team') team: string, @Body() body: unknown) {
    return this.teams.rename(a, org, team, (await parseOrgInput(this.access, a, org, teamUpdateInput, body)).name);
  }

  @Delete('orgs/:org/teams/:team')
  @HttpCode(204)
  async deleteTeam(@CurrentActor() a: Actor, @Param('org') org: string, @Param('team') team: string) {
    await this.teams.delete(a, org, team);
  }

  @Post('orgs/:org/teams/:team/members')
  async addTeamMember(@CurrentActor() a: Actor, @Param('org') org: string, @Param('team') team: string, @Body() body: unknown) {
    return this.teams.addMember(a, org, team, await parseOrgInput(this.access, a, org, teamMemberInput, body));
  }

  @Delete('orgs/:org/teams/:team/members/:user')
  removeTeamMember(@CurrentActor() a: Actor, @Param('org') org: string, @Param('team') team: string, @Param('user') user: string) {
    return this.teams.removeMember(a, org, team, user);
  }

  @Get('orgs/:org/service-accounts')
  async listServiceAccounts(@CurrentActor() a: Actor, @Param('org') org: string, @Query() q: Q) {
    return listOf((await this.sas.list(a, org, { q: qs(q.q), status: qs(q.status) }, pageQuery(q, SA_SORTS, { sort: 'name', dir: 'asc' }))).page);
  }

  @Post('orgs/:org/service-accounts')
  async createServiceAccount(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.sas.create(a, org, await parseOrgInput(this.access, a, org, serviceAccountCreateInput, body));
  }

  @Get('orgs/:org/service-accounts/:sa')
  getServiceAccount(@CurrentActor() a: Actor, @Param('org') org: string, @Param('sa') sa: string) {
    return this.sas.get(a, org, sa);
  }

  @Patch('orgs/:org/service-accounts/:sa')
  async updateServiceAccount(@CurrentActor() a: Actor, @Param('org') org: string, @Param('sa') sa: string, @Body() body: unknown) {
    const input = await parseOrgInput(this.access, a, org, serviceAccountUpdateInput, body) as { team?: string | null; description?: string | null; disabled?: boolean };
    const disabled = (body as { disabled?: unknown } | null)?.disabled;
    if (typeof disabled === 'boolean') await this.sas.setDisabled(a, org, sa, disabled);
    return this.sas.update(a, org, sa, input);
  }

  @Delete('orgs/:org/service-accounts/:sa')
  @HttpCode(204)
  async deleteServiceAccount(@CurrentActor() a: Actor, @Param('org') org: string, @Param('sa') sa: string) {
    await this.sas.delete(a, org, sa);
  }

  @Get('audit')
  async auditLog(@CurrentActor() a: Actor, @Query() q: Q) {
    return listOf(await this.audit.list(a, { org: qs(q.org), actor: qs(q.actor), action: qs(q.action), target: qs(q.target) }, pageQuery(q, AUDIT_SORTS, { sort: 'time', dir: 'desc' })));
  }
}
