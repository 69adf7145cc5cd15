import { Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { ORG_ROLES } from './membership.entity';
import { MEMBER_SORTS, MembersService } from './members.service';
import { ORG_SORTS, OrgAdminService } from './org-admin.service';
import { memberAddInput, memberRoleInput, orgCreateInput, orgUpdateInput, parseInput, serviceAccountCreateInput, serviceAccountUpdateInput, teamCreateInput, teamMemberInput, teamUpdateInput } from './admin-inputs';
import { SA_SORTS, ServiceAccountsService } from './service-accounts.service';
import { TEAM_SORTS, TeamsService } from './teams.service';
import { afterChange, listQuery, pageQuery, qs, render, withNav } from './ui-support';

const orgBase = (slug: string) => `/ui/orgs/${encodeURIComponent(slug)}`;
const head = (org: { slug: string; name: string }, role: string, tab: string) => ({ org, role, tab, isAdmin: role === 'admin' });

/** Organizations, their members, teams and service accounts, as pages (htmx for inline actions). */
@Controller('ui/orgs')
export class OrgsUiController {
  constructor(
    private readonly orgs: OrgAdminService,
    private readonly members: MembersService,
    private readonly teams: TeamsService,
    private readonly sas: ServiceAccountsService,
  ) {}

  @Get()
  async list(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const q = listQuery(req);
    const page = await this.orgs.list(actor, { q: qs(q.q) }, pageQuery(q, ORG_SORTS, { sort: 'slug', dir: 'asc' }));
    render(req, res, 'orgs/index', 'partials/orgs/list', { title: 'Organizations', nav: 'orgs', canCreate: actor.globalAdmin, filters: { q: qs(q.q) }, ...withNav('/ui/orgs', q, page, ORG_SORTS) });
  }

  @Post()
  async create(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const org = await this.orgs.create(actor, parseInput(orgCreateInput, req.body));
    res.redirect(303, orgBase(org.slug));
  }

  @Get(':org')
  async show(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const o = await this.orgs.get(actor, ref);
    render(req, res, 'orgs/show', 'partials/orgs/overview', { title: o.org.name, nav: 'orgs', ...head(o.org, o.role, 'overview'), counts: o.counts });
  }

  @Post(':org')
  async rename(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const org = await this.orgs.rename(actor, ref, parseInput(orgUpdateInput, req.body).name);
    res.redirect(303, orgBase(org.slug));
  }

  // Members -----------------------------------------------------------------------------------

  @Get(':org/members')
  async membersPage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.renderMembers(req, res, actor, ref);
  }

  private async renderMembers(req: Request, res: Response, actor: Actor, ref: string) {
    const q = listQuery(req);
    const f = { q: qs(q.q), role: qs(q.role) };
    const { scope, page } = await this.members.list(actor, ref, f, pageQuery(q, MEMBER_SORTS, { sort: 'email', dir: 'asc' }));
    const base = orgBase(scope.org.slug);
    render(req, res, 'orgs/members', 'partials/orgs/members', { title: `Members · ${scope.org.name}`, nav: 'orgs', ...head(scope.org, scope.role, 'members'), base, roles: ORG_ROLES, filters: f, ...withNav(`${base}/members`, q, page, MEMBER_SORTS) });
  }

  @Post(':org/members')
  async addMember(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.members.add(actor, ref, parseInput(memberAddInput, req.body));
    await afterChange(req, res, `${orgBase(ref)}/members`, () => this.renderMembers(req, res, actor, ref));
  }

  @Post(':org/members/:user/role')
  async setRole(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('user') user: string) {
    await this.members.setRole(actor, ref, user, parseInput(memberRoleInput, req.body).role);
    await afterChange(req, res, `${orgBase(ref)}/members`, () => this.renderMembers(req, res, actor, ref));
  }

  @Post(':org/members/:user/remove')
  async removeMember(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('user') user: string) {
    await this.members.remove(actor, ref, user);
    await afterChange(req, res, `${orgBase(ref)}/members`, () => this.renderMembers(req, res, actor, ref));
  }

  // Teams -------------------------------------------------------------------------------------

  @Get(':org/teams')
  async teamsPage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const q = listQuery(req);
    const f = { q: qs(q.q) };
    const { scope, page } = await this.teams.list(actor, ref, f, pageQuery(q, TEAM_SORTS, { sort: 'slug', dir: 'asc' }));
    const base = orgBase(scope.org.slug);
    render(req, res, 'orgs/teams', 'partials/orgs/teams', { title: `Teams · ${scope.org.name}`, nav: 'orgs', ...head(scope.org, scope.role, 'teams'), base, filters: f, ...withNav(`${base}/teams`, q, page, TEAM_SORTS) });
  }

  @Post(':org/teams')
  async createTeam(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const team = await this.teams.create(actor, ref, parseInput(teamCreateInput, req.body));
    res.redirect(303, `${orgBase(team.org)}/teams/${encodeURIComponent(team.slug)}`);
  }

  @Get(':org/teams/:team')
  async teamPage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('team') teamRef: string) {
    await this.renderTeam(req, res, actor, ref, teamRef);
  }

  private async renderTeam(req: Request, res: Response, actor: Actor, ref: string, teamRef: string) {
    const team = await this.teams.get(actor, ref, teamRef);
    const o = await this.orgs.get(actor, ref);
    render(req, res, 'orgs/team', 'partials/orgs/team-members', { title: `${team.name} · ${o.org.name}`, nav: 'orgs', ...head(o.org, o.role, 'teams'), base: orgBase(o.org.slug), team });
  }

  @Post(':org/teams/:team')
  async renameTeam(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('team') teamRef: string) {
    const team = await this.teams.rename(actor, ref, teamRef, parseInput(teamUpdateInput, req.body).name);
    res.redirect(303, `${orgBase(team.org)}/teams/${encodeURIComponent(team.slug)}`);
  }

  @Post(':org/teams/:team/delete')
  async deleteTeam(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('team') teamRef: string) {
    await this.teams.delete(actor, ref, teamRef);
    res.redirect(303, `${orgBase(ref)}/teams`);
  }

  @Post(':org/teams/:team/members')
  async addTeamMember(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('team') teamRef: string) {
    await this.teams.addMember(actor, ref, teamRef, parseInput(teamMemberInput, req.body));
    await afterChange(req, res, `${orgBase(ref)}/teams/${encodeURIComponent(teamRef)}`, () => this.renderTeam(req, res, actor, ref, teamRef));
  }

  @Post(':org/teams/:team/members/:user/remove')
  async removeTeamMember(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('team') teamRef: string, @Param('user') user: string) {
    await this.teams.removeMember(actor, ref, teamRef, user);
    await afterChange(req, res, `${orgBase(ref)}/teams/${encodeURIComponent(teamRef)}`, () => this.renderTeam(req, res, actor, ref, teamRef));
  }

  // Service accounts --------------------------------------------------------------------------

  @Get(':org/service-accounts')
  async serviceAccountsPage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.renderServiceAccounts(req, res, actor, ref);
  }

  private async renderServiceAccounts(req: Request, res: Response, actor: Actor, ref: string) {
    const q = listQuery(req);
    const f = { q: qs(q.q), status: qs(q.status) };
    const { scope, page } = await this.sas.list(actor, ref, f, pageQuery(q, SA_SORTS, { sort: 'name', dir: 'asc' }));
    const base = orgBase(scope.org.slug);
    render(req, res, 'orgs/service-accounts', 'partials/orgs/service-accounts', {
      title: `Service accounts · ${scope.org.name}`,
      nav: 'orgs',
      ...head(scope.org, scope.role, 'service-accounts'),
      base,
      filters: f,
      teams: await this.sas.teamChoices(scope),
      ...withNav(`${base}/service-accounts`, q, page, SA_SORTS),
    });
  }

  @Post(':org/service-accounts')
  async createServiceAccount(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.sas.create(actor, ref, parseInput(serviceAccountCreateInput, req.body));
    await afterChange(req, res, `${orgBase(ref)}/service-accounts`, () => this.renderServiceAccounts(req, res, actor, ref));
  }

  @Get(':org/service-accounts/:sa')
  async serviceAccountPage(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('sa') saRef: string) {
    const sa = await this.sas.get(actor, ref, saRef);
    const o = await this.orgs.get(actor, ref);
    render(req, res, 'orgs/service-account', 'partials/orgs/service-account', { title: `${sa.name} · ${o.org.name}`, nav: 'orgs', ...head(o.org, o.role, 'service-accounts'), base: orgBase(o.org.slug), sa, teams: await this.sas.teamChoicesFor(actor, o.org.id) });
  }

  @Post(':org/service-accounts/:sa')
  async updateServiceAccount(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('sa') saRef: string) {
    const sa = await this.sas.update(actor, ref, saRef, parseInput(serviceAccountUpdateInput, req.body));
    res.redirect(303, `${orgBase(ref)}/service-accounts/${encodeURIComponent(sa.name)}`);
  }

  @Post(':org/service-accounts/:sa/disable')
  async disableServiceAccount(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('sa') saRef: string) {
    await this.sas.setDisabled(actor, ref, saRef, true);
    await afterChange(req, res, `${orgBase(ref)}/service-accounts`, () => this.renderServiceAccounts(req, res, actor, ref));
  }

  @Post(':org/service-accounts/:sa/enable')
  async enableServiceAccount(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('sa') saRef: string) {
    await this.sas.setDisabled(actor, ref, saRef, false);
    await afterChange(req, res, `${orgBase(ref)}/service-accounts`, () => this.renderServiceAccounts(req, res, actor, ref));
  }

  @Post(':org/service-accounts/:sa/delete')
  async deleteServiceAccount(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('sa') saRef: string) {
    await this.sas.delete(actor, ref, saRef);
    await afterChange(req, res, `${orgBase(ref)}/service-accounts`, () => this.renderServiceAccounts(req, res, actor, ref));
  }
}
