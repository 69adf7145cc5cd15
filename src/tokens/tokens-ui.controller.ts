import { Controller, Get, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { RUNTIME, type Runtime } from '../config/runtime';
import { myTokenCreateInput, parseInput, rotateInput, tokenCreateInput } from '../orgs/admin-inputs';
import { OrgAdminService } from '../orgs/org-admin.service';
import { afterChange, listQuery, noStore, pageQuery, qs, render, withNav } from '../orgs/ui-support';
import { TOKEN_SCOPES } from './api-token.entity';
import { clientSnippets } from './snippets';
import { IssuedToken, TOKEN_SORTS, TokenAdminService } from './token-admin.service';

const orgBase = (slug: string) => `/ui/orgs/${encodeURIComponent(slug)}`;
const STATUSES = ['active', 'revoked', 'expired', 'all'];

/** "My tokens" for everyone, an organization's tokens for its admins; secrets are shown once. */
@Controller('ui')
export class TokensUiController {
  constructor(
    private readonly tokens: TokenAdminService,
    private readonly orgs: OrgAdminService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  private baseUrl(req: Request): string {
    return this.rt.env.PUBLIC_URL ?? `${req.protocol}://${req.get('host')}`;
  }

  private showSecret(req: Request, res: Response, issued: IssuedToken, backTo: string, rotated = false) {
    noStore(res);
    res.status(201).render('tokens/created', {
      title: 'Token created',
      nav: 'tokens',
      token: issued.token,
      secret: issued.secret,
      rotated,
      backTo,
      snippets: clientSnippets(this.baseUrl(req), issued.secret),
    });
  }

  // My tokens ---------------------------------------------------------------------------------

  @Get('tokens')
  async mine(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    await this.renderMine(req, res, actor);
  }

  private async renderMine(req: Request, res: Response, actor: Actor) {
    const q = listQuery(req);
    const f = { q: qs(q.q), status: qs(q.status) ?? 'active', org: qs(q.org) };
    const page = await this.tokens.listMine(actor, f, pageQuery(q, TOKEN_SORTS, { sort: 'created', dir: 'desc' }));
    render(req, res, 'tokens/mine', 'partials/tokens/mine', {
      title: 'My tokens',
      nav: 'tokens',
      filters: f,
      statuses: STATUSES,
      myOrgs: actor.orgs,
      adminOrgs: actor.orgs.filter((o) => o.role === 'admin' || actor.globalAdmin).map((o) => o.slug),
      scopes: TOKEN_SCOPES,
      ...withNav('/ui/tokens', q, page, TOKEN_SORTS),
    });
  }

  @Post('tokens')
  async createMine(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor) {
    const issued = await this.tokens.createMine(actor, parseInput(myTokenCreateInput, req.body));
    this.showSecret(req, res, issued, '/ui/tokens');
  }

  @Get('tokens/:token')
  async showMine(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('token') id: string) {
    const token = await this.tokens.getMine(actor, id);
    render(req, res, 'tokens/show', 'partials/tokens/detail', { title: token.name, nav: 'tokens', token, base: '/ui/tokens', mine: true });
  }

  @Post('tokens/:token/revoke')
  async revokeMine(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('token') id: string) {
    await this.tokens.revokeMine(actor, id);
    await afterChange(req, res, '/ui/tokens', () => this.renderMine(req, res, actor));
  }

  @Post('tokens/:token/rotate')
  async rotateMine(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('token') id: string) {
    const issued = await this.tokens.rotateMine(actor, id, parseInput(rotateInput, req.body).grace);
    this.showSecret(req, res, issued, '/ui/tokens', true);
  }

  // An organization's tokens (admins) -------------------------------------------------------

  @Get('orgs/:org/tokens')
  async orgTokens(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    await this.renderOrg(req, res, actor, ref);
  }

  private async renderOrg(req: Request, res: Response, actor: Actor, ref: string) {
    const q = listQuery(req);
    const f = { q: qs(q.q), status: qs(q.status) ?? 'active', owner: qs(q.owner) };
    const { scope, page } = await this.tokens.listOrg(actor, ref, f, pageQuery(q, TOKEN_SORTS, { sort: 'created', dir: 'desc' }));
    const base = orgBase(scope.org.slug);
    render(req, res, 'tokens/org', 'partials/tokens/org', {
      title: `Tokens · ${scope.org.name}`,
      nav: 'orgs',
      org: scope.org,
      role: scope.role,
      tab: 'tokens',
      isAdmin: true,
      base,
      filters: f,
      statuses: STATUSES,
      ...withNav(`${base}/tokens`, q, page, TOKEN_SORTS),
    });
  }

  @Get('orgs/:org/tokens/new')
  async newOrgToken(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const form = await this.tokens.newTokenForm(actor, ref);
    render(req, res, 'tokens/new', 'tokens/new', { title: `New token · ${form.org.name}`, nav: 'orgs', org: form.org, role: 'admin', tab: 'tokens', isAdmin: true, base: orgBase(form.org.slug), owners: form.owners, scopes: TOKEN_SCOPES, preselect: qs(req.query.owner) });
  }

  @Post('orgs/:org/tokens')
  async createOrgToken(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string) {
    const issued = await this.tokens.createForOrg(actor, ref, parseInput(tokenCreateInput, req.body));
    this.showSecret(req, res, issued, `${orgBase(issued.token.org)}/tokens`);
  }

  @Get('orgs/:org/tokens/:token')
  async showOrgToken(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('token') id: string) {
    const token = await this.tokens.getOrg(actor, ref, id);
    render(req, res, 'tokens/show', 'partials/tokens/detail', { title: token.name, nav: 'orgs', token, base: `${orgBase(token.org)}/tokens`, mine: false });
  }

  @Post('orgs/:org/tokens/:token/revoke')
  async revokeOrgToken(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('token') id: string) {
    await this.tokens.revokeOrg(actor, ref, id);
    await afterChange(req, res, `${orgBase(ref)}/tokens`, () => this.renderOrg(req, res, actor, ref));
  }

  @Post('orgs/:org/tokens/:token/rotate')
  async rotateOrgToken(@Req() req: Request, @Res() res: Response, @CurrentActor() actor: Actor, @Param('org') ref: string, @Param('token') id: string) {
    const issued = await this.tokens.rotateOrg(actor, ref, id, parseInput(rotateInput, req.body).grace);
    this.showSecret(req, res, issued, `${orgBase(issued.token.org)}/tokens`, true);
  }
}
