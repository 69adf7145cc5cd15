import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { AccessService } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { CurrentActor } from '../auth/current-actor.decorator';
import { myTokenCreateInput, parseInput, parseOrgInput, rotateInput, tokenCreateInput } from '../orgs/admin-inputs';
import { listOf } from '../orgs/orgs-api.controller';
import { pageQuery, qs } from '../orgs/ui-support';
import { TOKEN_SORTS, TokenAdminService } from './token-admin.service';

type Q = Record<string, unknown>;

/**
 * Management API for tokens. Creating or rotating returns the secret in that one response; it is
 * never retrievable again. DELETE revokes (the row stays, for the audit trail and usage history).
 */
@Controller('api/v1')
export class TokensApiController {
  constructor(
    private readonly access: AccessService,
    private readonly tokens: TokenAdminService,
  ) {}

  @Get('orgs/:org/tokens')
  async listOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Query() q: Q) {
    return listOf((await this.tokens.listOrg(a, org, { q: qs(q.q), status: qs(q.status), owner: qs(q.owner) }, pageQuery(q, TOKEN_SORTS, { sort: 'created', dir: 'desc' }))).page);
  }

  @Post('orgs/:org/tokens')
  async createOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Body() body: unknown) {
    return this.tokens.createForOrg(a, org, await parseOrgInput(this.access, a, org, tokenCreateInput, body));
  }

  @Get('orgs/:org/tokens/:token')
  getOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Param('token') id: string) {
    return this.tokens.getOrg(a, org, id);
  }

  @Delete('orgs/:org/tokens/:token')
  revokeOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Param('token') id: string) {
    return this.tokens.revokeOrg(a, org, id);
  }

  @Post('orgs/:org/tokens/:token/rotate')
  async rotateOrg(@CurrentActor() a: Actor, @Param('org') org: string, @Param('token') id: string, @Body() body: unknown) {
    return this.tokens.rotateOrg(a, org, id, (await parseOrgInput(this.access, a, org, rotateInput, body)).grace);
  }

  @Get('me/tokens')
  async listMine(@CurrentActor() a: Actor, @Query() q: Q) {
    return listOf(await this.tokens.listMine(a, { q: qs(q.q), status: qs(q.status), org: qs(q.org) }, pageQuery(q, TOKEN_SORTS, { sort: 'created', dir: 'desc' })));
  }

  @Post('me/tokens')
  createMine(@CurrentActor() a: Actor, @Body() body: unknown) {
    return this.tokens.createMine(a, parseInput(myTokenCreateInput, body));
  }

  @Get('me/tokens/:token')
  getMine(@CurrentActor() a: Actor, @Param('token') id: string) {
    return this.tokens.getMine(a, id);
  }

  @Delete('me/tokens/:token')
  revokeMine(@CurrentActor() a: Actor, @Param('token') id: string) {
    return this.tokens.revokeMine(a, id);
  }

  @Post('me/tokens/:token/rotate')
  rotateMine(@CurrentActor() a: Actor, @Param('token') id: string, @Body() body: unknown) {
    return this.tokens.rotateMine(a, id, parseInput(rotateInput, body).grace);
  }
}
