import { VERSION } from '../common/paths';

/**
 * The management API's OpenAPI 3.1 document, written by hand next to the routes it describes.
 * A test compares its paths with the routes the application actually registers.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const ok = (schema: unknown, description = 'OK') => ({ description, ...json(schema) });
const list = (item: string) => ({
  type: 'object',
  required: ['data', 'page', 'per', 'total', 'pages'],
  properties: { data: { type: 'array', items: ref(item) }, page: { type: 'integer' }, per: { type: 'integer' }, total: { type: 'integer' }, pages: { type: 'integer' }, sort: { type: 'string' }, dir: { type: 'string', enum: ['asc', 'desc'] } },
});
const p = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const q = (name: string, description: string, schema: unknown = { type: 'string' }) => ({ name, in: 'query', required: false, description, schema });
const ORG = p('org', 'organization id or slug');
const TEAM = p('team', 'team id or slug');
const SA = p('sa', 'service account id or name');
const USER = p('user', 'user id');
const TOKEN = p('token', 'token id');
const BUDGET = p('budget', 'budget id');
const VERSION_P = p('version', 'config version number');
const paging = (sorts: string[]) => [q('page', 'page number, from 1', { type: 'integer', minimum: 1 }), q('per', 'rows per page', { type: 'integer', enum: [10, 25, 50, 100] }), q('sort', 'sort key', { type: 'string', enum: sorts }), q('dir', 'sort direction', { type: 'string', enum: ['asc', 'desc'] })];
const errors = {
  '400': { description: 'Invalid input', ...json(ref('Error')) },
  '401': { description: 'Not signed in and no valid admin token', ...json(ref('Error')) },
  '403': { description: 'Signed in but not allowed (role, scope, or missing CSRF token with a session)', ...json(ref('Error')) },
  '404': { description: 'Not found, or not visible to the caller', ...json(ref('Error')) },
};
const op = (summary: string, tag: string, extra: Record<string, unknown> = {}) => ({ summary, tags: [tag], ...extra, responses: { ...(extra.responses as object), ...errors } });

export function openApiDocument(serverUrl?: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice management API',
      version: VERSION,
      description:
        'Organizations, members, teams, service accounts, tokens, budgets, rate limits, the audit log and (for global admins) the gateway config. Authenticate with an API token that has the `admin` scope (`Authorization: Bearer sk-sluice-…`), or with a signed-in session; session requests that change state must send the CSRF token in `X-CSRF-Token`. A token acts inside its own organization (tokens of global admins act everywhere).',
    },
    servers: serverUrl ? [{ url: serverUrl }] : undefined,
    security: [{ bearer: [] }, { session: [] }],
    tags: ['me', 'organizations', 'members', 'teams', 'service accounts', 'tokens', 'budgets', 'rate limits', 'audit', 'config'].map((name) => ({ name })),
    paths: {
      '/api/v1/me': { get: op('Who is calling, with organizations and roles', 'me', { responses: { '200': ok(ref('Me')) } }) },
      '/api/v1/orgs': {
        get: op('Organizations the caller can see', 'organizations', { parameters: [q('q', 'search slug or name'), ...paging(['slug', 'name', 'created', 'members'])], responses: { '200': ok(list('OrgRow')) } }),
        post: op('Create an organization (global admins)', 'organizations', { requestBody: json(ref('OrgCreate')), responses: { '201': ok(ref('Org'), 'Created') } }),
      },
      '/api/v1/orgs/{org}': {
        parameters: [ORG],
        get: op('An organization with counts and the caller role', 'organizations', { responses: { '200': ok(ref('OrgDetail')) } }),
        patch: op('Rename an organization (org admins)', 'organizations', { requestBody: json(ref('NameUpdate')), responses: { '200': ok(ref('Org')) } }),
      },
      '/api/v1/orgs/{org}/members': {
        parameters: [ORG],
        get: op('Members (org admins)', 'members', { parameters: [q('q', 'search email or name'), q('role', 'admin or member'), ...paging(['email', 'name', 'role', 'added', 'lastLogin'])], responses: { '200': ok(list('Member')) } }),
        post: op('Add a person by email (created if they never signed in)', 'members', { requestBody: json(ref('MemberAdd')), responses: { '201': ok(ref('Member'), 'Added') } }),
      },
      '/api/v1/orgs/{org}/members/{user}': {
        parameters: [ORG, USER],
        get: op('One member', 'members', { responses: { '200': ok(ref('Member')) } }),
        patch: op('Change the role (the last admin cannot be demoted)', 'members', { requestBody: json(ref('MemberRole')), responses: { '200': ok(ref('Member')) } }),
        delete: op('Remove from the organization and its teams; their tokens here are revoked', 'members', { responses: { '204': { description: 'Removed' } } }),
      },
      '/api/v1/orgs/{org}/teams': {
        parameters: [ORG],
        get: op('Teams', 'teams', { parameters: [q('q', 'search slug or name'), ...paging(['slug', 'name', 'members', 'created'])], responses: { '200': ok(list('TeamRow')) } }),
        post: op('Create a team', 'teams', { requestBody: json(ref('TeamCreate')), responses: { '201': ok(ref('Team'), 'Created') } }),
      },
      '/api/v1/orgs/{org}/teams/{team}': {
        parameters: [ORG, TEAM],
        get: op('A team with its members', 'teams', { responses: { '200': ok(ref('Team')) } }),
        patch: op('Rename a team', 'teams', { requestBody: json(ref('NameUpdate')), responses: { '200': ok(ref('Team')) } }),
        delete: op('Delete a team', 'teams', { responses: { '204': { description: 'Deleted' } } }),
      },
      '/api/v1/orgs/{org}/teams/{team}/members': {
        parameters: [ORG, TEAM],
        post: op('Add an organization member to the team', 'teams', { requestBody: json(ref('TeamMemberAdd')), responses: { '201': ok(ref('Team'), 'Added') } }),
      },
      '/api/v1/orgs/{org}/teams/{team}/members/{user}': {
        parameters: [ORG, TEAM, USER],
        delete: op('Remove a person from the team', 'teams', { responses: { '200': ok(ref('Team')) } }),
      },
      '/api/v1/orgs/{org}/service-accounts': {
        parameters: [ORG],
        get: op('Service accounts', 'service accounts', { parameters: [q('q', 'search name or description'), q('status', 'active or disabled'), ...paging(['name', 'team', 'created', 'lastUsed'])], responses: { '200': ok(list('ServiceAccount')) } }),
        post: op('Create a service account', 'service accounts', { requestBody: json(ref('ServiceAccountCreate')), responses: { '201': ok(ref('ServiceAccount'), 'Created') } }),
      },
      '/api/v1/orgs/{org}/service-accounts/{sa}': {
        parameters: [ORG, SA],
        get: op('A service account', 'service accounts', { responses: { '200': ok(ref('ServiceAccount')) } }),
        patch: op('Change team or description, or disable/enable (its tokens stop or resume at once)', 'service accounts', { requestBody: json(ref('ServiceAccountUpdate')), responses: { '200': ok(ref('ServiceAccount')) } }),
        delete: op('Delete the service account and its tokens', 'service accounts', { responses: { '204': { description: 'Deleted' } } }),
      },
      '/api/v1/orgs/{org}/tokens': {
        parameters: [ORG],
        get: op('Tokens of the organization (org admins)', 'tokens', { parameters: [q('q', 'search name or prefix'), q('owner', 'search owner email or service account'), q('status', 'active (default), revoked, expired or all'), ...paging(['created', 'name', 'lastUsed', 'expires', 'owner'])], responses: { '200': ok(list('TokenRow')) } }),
        post: op('Issue a token for a member or a service account; the secret is in this response only', 'tokens', { requestBody: json(ref('TokenCreate')), responses: { '201': ok(ref('IssuedToken'), 'Created') } }),
      },
      '/api/v1/orgs/{org}/tokens/{token}': {
        parameters: [ORG, TOKEN],
        get: op('One token (never its secret)', 'tokens', { responses: { '200': ok(ref('TokenRow')) } }),
        delete: op('Revoke the token on every instance at once', 'tokens', { responses: { '200': ok(ref('Token')) } }),
      },
      '/api/v1/orgs/{org}/tokens/{token}/rotate': {
        parameters: [ORG, TOKEN],
        post: op('New secret, same settings; the old one is revoked now or after `grace`', 'tokens', { requestBody: json(ref('Rotate')), responses: { '201': ok(ref('IssuedToken'), 'Rotated') } }),
      },
      '/api/v1/me/tokens': {
        get: op('The caller own tokens', 'tokens', { parameters: [q('q', 'search name or prefix'), q('org', 'organization slug or id'), q('status', 'active (default), revoked, expired or all'), ...paging(['created', 'name', 'lastUsed', 'expires'])], responses: { '200': ok(list('TokenRow')) } }),
        post: op('Issue a token for yourself (members: proxy scope only)', 'tokens', { requestBody: json(ref('MyTokenCreate')), responses: { '201': ok(ref('IssuedToken'), 'Created') } }),
      },
      '/api/v1/me/tokens/{token}': {
        parameters: [TOKEN],
        get: op('One of your tokens', 'tokens', { responses: { '200': ok(ref('TokenRow')) } }),
        delete: op('Revoke one of your tokens', 'tokens', { responses: { '200': ok(ref('Token')) } }),
      },
      '/api/v1/me/tokens/{token}/rotate': {
        parameters: [TOKEN],
        post: op('Rotate one of your tokens', 'tokens', { requestBody: json(ref('Rotate')), responses: { '201': ok(ref('IssuedToken'), 'Rotated') } }),
      },
      '/api/v1/orgs/{org}/budgets': {
        parameters: [ORG],
        get: op('Budgets with their current window (admins: all of the organization; members: those that apply to them)', 'budgets', { responses: { '200': ok({ type: 'object', properties: { data: { type: 'array', items: ref('Budget') } } }) } }),
        post: op('Create a budget (org admins); with a webhook, its HMAC secret is in this response only', 'budgets', { requestBody: json(ref('BudgetCreate')), responses: { '201': ok(ref('Budget'), 'Created') } }),
      },
      '/api/v1/orgs/{org}/budgets/{budget}': {
        parameters: [ORG, BUDGET],
        get: op('One budget with what is used, left and when it resets', 'budgets', { responses: { '200': ok(ref('Budget')) } }),
        patch: op('Change name, limit, thresholds, webhook, hard/soft, fail-open or per-user surplus limit (org admins)', 'budgets', { requestBody: json(ref('BudgetUpdate')), responses: { '200': ok(ref('Budget')) } }),
        delete: op('Delete a budget (not a pool other budgets draw on)', 'budgets', { responses: { '204': { description: 'Deleted' } } }),
      },
      '/api/v1/orgs/{org}/budgets/{budget}/refill': {
        parameters: [ORG, BUDGET],
        post: op('Give back an amount, or everything used in the current window', 'budgets', { requestBody: json(ref('Refill')), responses: { '200': ok(ref('Budget')) } }),
      },
      '/api/v1/orgs/{org}/budgets/{budget}/pause': {
        parameters: [ORG, BUDGET],
        post: op('Pause: every request the budget governs is refused until resumed', 'budgets', { responses: { '200': ok(ref('Budget')) } }),
      },
      '/api/v1/orgs/{org}/budgets/{budget}/resume': {
        parameters: [ORG, BUDGET],
        post: op('Resume a paused budget', 'budgets', { responses: { '200': ok(ref('Budget')) } }),
      },
      '/api/v1/orgs/{org}/rate-limits': {
        parameters: [ORG],
        get: op('Rate limits set in the organization (org admins)', 'rate limits', { responses: { '200': ok({ type: 'object', properties: { data: { type: 'array', items: ref('RateLimit') } } }) } }),
        put: op('Set the rate limits of one scope: a number sets a kind, null clears it, an absent kind keeps its value', 'rate limits', { requestBody: json(ref('RateLimitSet')), responses: { '200': ok(ref('RateLimit')) } }),
      },
      '/api/v1/audit': {
        get: op('Audit log (global admins: all; org admins: their organizations)', 'audit', { parameters: [q('org', 'organization slug or id'), q('actor', 'search actor'), q('action', 'action prefix, e.g. token.'), q('target', 'target id'), ...paging(['time'])], responses: { '200': ok(list('AuditEvent')) } }),
      },
      '/api/v1/config': {
        get: op('The active gateway config (global admins); provider keys as ••••last4', 'config', { responses: { '200': ok(ref('ConfigActive')) } }),
        post: op('Save a new version, active on every instance within a second (global admins); refused with `issues` when invalid', 'config', { requestBody: json(ref('ConfigSave')), responses: { '201': ok(ref('ConfigVersion'), 'Saved') } }),
      },
      '/api/v1/config/versions': {
        get: op('Every saved version, newest first (global admins)', 'config', { responses: { '200': ok({ type: 'object', properties: { data: { type: 'array', items: ref('ConfigVersion') } } }) } }),
      },
      '/api/v1/config/versions/{version}': {
        parameters: [VERSION_P],
        get: op('One version with its document (keys masked)', 'config', { responses: { '200': ok({ type: 'object', properties: { version: ref('ConfigVersion'), document: { type: 'object' } } }) } }),
      },
      '/api/v1/config/versions/{version}/restore': {
        parameters: [VERSION_P],
        post: op('Save a new version whose document is exactly this version\'s', 'config', { requestBody: json({ type: 'object', required: ['reason'], properties: { reason: { type: 'string', maxLength: 500 } } }), responses: { '201': ok(ref('ConfigVersion'), 'Restored') } }),
      },
      '/api/v1/config/diff': {
        get: op('What changed between two versions, path by path (keys masked)', 'config', { parameters: [{ ...q('from', 'version number, or `active`'), required: true }, { ...q('to', 'version number, or `active`'), required: true }], responses: { '200': ok(ref('ConfigDiff')) } }),
      },
      '/api/v1/config/validate': {
        post: op('Check a document or JSON text against the schema without saving', 'config', { requestBody: json(ref('ConfigDraft')), responses: { '200': ok({ type: 'object', properties: { valid: { type: 'boolean' }, issues: { type: 'array', items: ref('ConfigIssue') } } }) } }),
      },
      '/api/v1/config/test-connection': {
        post: op("Call a provider's model list (GET {baseurl}/v1/models) through the upstream pool: the active provider `name`, or a draft `provider` (a missing key uses the stored one)", 'config', {
          requestBody: json({ type: 'object', required: ['name'], properties: { name: { type: 'string' }, provider: { type: 'object', description: 'provider settings as in the config document; apikey: the key, env:NAME, or omitted for the stored key' } } }),
          responses: { '200': ok(ref('ProbeResult')) },
        }),
      },
      '/api/v1/openapi.json': { get: { summary: 'This document', tags: ['me'], security: [], responses: { '200': { description: 'OpenAPI 3.1 document' } } } },
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token with the admin scope' },
        session: { type: 'apiKey', in: 'cookie', name: 'sluice_session', description: 'A signed-in browser session (plus X-CSRF-Token on writes)' },
      },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, request_id: { type: 'string' } } } } },
        Me: { type: 'object', properties: { via: { enum: ['session', 'token'] }, user: { type: ['object', 'null'] }, tokenId: { type: ['string', 'null'] }, globalAdmin: { type: 'boolean' }, organizations: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, slug: { type: 'string' }, name: { type: 'string' }, role: { enum: ['admin', 'member'] } } } } } },
        Org: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, slug: { type: 'string' }, name: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } } },
        OrgRow: { allOf: [ref('Org'), { type: 'object', properties: { members: { type: 'integer' }, teams: { type: 'integer' }, activeTokens: { type: 'integer' }, role: { enum: ['admin', 'member', null] } } }] },
        OrgDetail: { type: 'object', properties: { org: ref('Org'), role: { enum: ['admin', 'member'] }, counts: { type: 'object', additionalProperties: { type: 'integer' } } } },
        OrgCreate: { type: 'object', required: ['slug'], properties: { slug: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }, name: { type: 'string', maxLength: 200 } } },
        NameUpdate: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 200 } } },
        Member: { type: 'object', properties: { userId: { type: 'string' }, email: { type: 'string' }, name: { type: ['string', 'null'] }, role: { enum: ['admin', 'member'] }, source: { enum: ['manual', 'oidc'] }, teams: { type: 'array', items: { type: 'string' } }, activeTokens: { type: 'integer' }, lastLoginAt: { type: ['string', 'null'] }, addedAt: { type: 'string' } } },
        MemberAdd: { type: 'object', required: ['email'], properties: { email: { type: 'string', format: 'email' }, role: { enum: ['admin', 'member'], default: 'member' } } },
        MemberRole: { type: 'object', required: ['role'], properties: { role: { enum: ['admin', 'member'] } } },
        TeamRow: { type: 'object', properties: { id: { type: 'string' }, slug: { type: 'string' }, name: { type: 'string' }, members: { type: 'integer' }, serviceAccounts: { type: 'integer' }, createdAt: { type: 'string' } } },
        Team: { allOf: [ref('TeamRow'), { type: 'object', properties: { org: { type: 'string' }, people: { type: 'array', items: { type: 'object', properties: { userId: { type: 'string' }, email: { type: 'string' }, name: { type: ['string', 'null'] }, source: { type: 'string' } } } } } }] },
        TeamCreate: { type: 'object', required: ['slug'], properties: { slug: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }, name: { type: 'string' } } },
        TeamMemberAdd: { type: 'object', properties: { email: { type: 'string' }, userId: { type: 'string' } }, description: 'email or userId of an organization member' },
        ServiceAccount: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, description: { type: ['string', 'null'] }, team: { type: ['string', 'null'] }, disabled: { type: 'boolean' }, activeTokens: { type: 'integer' }, lastUsedAt: { type: ['string', 'null'] }, createdAt: { type: 'string' } } },
        ServiceAccountCreate: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }, team: { type: 'string', description: 'team slug or id' }, description: { type: 'string' } } },
        ServiceAccountUpdate: { type: 'object', properties: { team: { type: ['string', 'null'] }, description: { type: ['string', 'null'] }, disabled: { type: 'boolean' } } },
        Token: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, prefix: { type: 'string' }, org: { type: 'string' }, owner: { type: 'object' }, scopes: { type: 'array', items: { enum: ['proxy', 'admin', 'metrics'] } }, modelPatterns: { type: ['array', 'null'], items: { type: 'string' } }, rpm: { type: ['integer', 'null'] }, tpm: { type: ['integer', 'null'] }, expiresAt: { type: ['string', 'null'] }, revokedAt: { type: ['string', 'null'] }, lastUsedAt: { type: ['string', 'null'] }, createdAt: { type: 'string' }, rotatedFromId: { type: ['string', 'null'] } } },
        TokenRow: { allOf: [ref('Token'), { type: 'object', properties: { status: { enum: ['active', 'revoked', 'expired'] }, team: { type: ['string', 'null'] }, createdBy: { type: ['string', 'null'] } } }] },
        IssuedToken: { type: 'object', required: ['token', 'secret'], properties: { token: ref('Token'), secret: { type: 'string', description: 'shown in this response only' } } },
        TokenCreate: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 100 },
            userId: { type: 'string', description: 'owner: a member, by id' },
            email: { type: 'string', description: 'owner: a member, by email' },
            serviceAccount: { type: 'string', description: 'owner: a service account, by id or name' },
            scopes: { type: 'array', items: { enum: ['proxy', 'admin', 'metrics'] }, default: ['proxy'] },
            models: { type: 'array', items: { type: 'string' }, description: 'model patterns the token is narrowed to' },
            expires: { type: 'string', description: 'duration (30d, 12h) or ISO date' },
            rpm: { type: 'integer', minimum: 1 },
            tpm: { type: 'integer', minimum: 1 },
          },
        },
        MyTokenCreate: { type: 'object', required: ['name', 'org'], properties: { org: { type: 'string' }, name: { type: 'string' }, scopes: { type: 'array', items: { type: 'string' } }, models: { type: 'array', items: { type: 'string' } }, expires: { type: 'string' }, rpm: { type: 'integer' }, tpm: { type: 'integer' } } },
        Rotate: { type: 'object', properties: { grace: { type: 'string', description: 'keep the old secret working this long (e.g. 1h); default: revoke now' } } },
        Budget: {
          type: 'object',
          properties: {
            id: { type: 'string' }, org: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', description: 'what it applies to, for people' },
            scopeType: { enum: ['org', 'team', 'user', 'service_account', 'token', 'end_user', 'pool'] }, scopeId: { type: ['string', 'null'] }, endUserTemplate: { type: 'boolean' },
            metric: { enum: ['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests'] }, windowKind: { enum: ['calendar', 'rolling', 'bucket'] },
            period: { type: ['string', 'null'] }, timeZone: { type: 'string' }, rollingSeconds: { type: ['integer', 'null'] }, refillPerSecond: { type: ['number', 'null'] },
            limitAmount: { type: 'integer' }, used: { type: 'integer' }, reserved: { type: 'integer' }, remaining: { type: 'integer' }, percentUsed: { type: 'integer' }, resetAt: { type: ['string', 'null'] },
            hard: { type: 'boolean' }, failOpen: { type: 'boolean' }, paused: { type: 'boolean' }, thresholds: { type: 'array', items: { type: 'integer' } },
            surplusBudgetId: { type: ['string', 'null'] }, surplusPoolName: { type: ['string', 'null'] }, surplusUserLimit: { type: ['integer', 'null'] },
            webhookUrl: { type: ['string', 'null'], description: 'admins only' }, webhookSecret: { type: 'string', description: 'only in the response that created the webhook' }, createdAt: { type: 'string' },
          },
        },
        BudgetCreate: {
          type: 'object',
          required: ['name', 'scope', 'metric'],
          description: 'Give exactly one window: period (+ timeZone), rolling, or refillPerSecond; and limit or limitUsd.',
          properties: {
            name: { type: 'string', maxLength: 120 },
            scope: { type: 'string', description: 'org, pool, team:<slug>, user:<email>, service-account:<name>, token:<id> or end-user:<id>' },
            perEndUser: { type: 'boolean', description: 'template: each end user seen through the token or org gets their own budget' },
            metric: { enum: ['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests'] },
            limit: { type: 'integer', minimum: 0, description: 'in the metric unit: micro-dollars for cost, tokens or requests' }, limitUsd: { type: 'number', minimum: 0, description: 'cost budgets only: the same in dollars' },
            period: { enum: ['day', 'week', 'month'] }, timeZone: { type: 'string', default: 'UTC' }, rolling: { type: 'string', description: 'duration such as 4h or 7d' },
            refillPerSecond: { type: 'number', minimum: 0, description: 'refilling bucket: units per second (limit is the capacity)' },
            soft: { type: 'boolean', description: 'only warn, never refuse' }, failOpen: { type: 'boolean', description: 'let requests through when the database is unreachable' },
            surplusPoolId: { type: 'string', description: 'a pool budget of the same metric to draw on' }, surplusUserLimit: { type: 'integer', minimum: 0, description: 'in the metric unit: micro-dollars for cost, tokens or requests' }, surplusUserLimitUsd: { type: 'number', minimum: 0, description: 'cost budgets only: the same in dollars' },
            thresholds: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 1000 }, default: [50, 80, 100] },
            webhookUrl: { type: 'string', format: 'uri' },
          },
        },
        BudgetUpdate: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 120 }, limit: { type: 'integer', minimum: 0, description: 'in the metric unit: micro-dollars for cost, tokens or requests' }, limitUsd: { type: 'number', minimum: 0, description: 'cost budgets only: the same in dollars' }, thresholds: { type: 'array', items: { type: 'integer' } },
            webhookUrl: { type: ['string', 'null'], description: 'null removes the webhook' }, soft: { type: 'boolean' }, failOpen: { type: 'boolean' },
            surplusUserLimit: { type: ['integer', 'null'] }, surplusUserLimitUsd: { type: ['number', 'null'] },
          },
        },
        Refill: { type: 'object', properties: { amount: { type: 'integer', minimum: 0, description: 'in the metric unit: micro-dollars for cost, tokens or requests' }, amountUsd: { type: 'number', minimum: 0, description: 'cost budgets only: the same in dollars' } }, description: 'empty: give back everything used in the current window' },
        RateLimit: { type: 'object', properties: { scope: { type: 'string' }, scopeType: { type: 'string' }, scopeId: { type: 'string' }, values: { type: 'object', properties: { rpm: { type: 'integer' }, tpm: { type: 'integer' }, input_tpm: { type: 'integer' }, output_tpm: { type: 'integer' }, concurrent: { type: 'integer' } } } } },
        RateLimitSet: {
          type: 'object',
          required: ['scope'],
          properties: {
            scope: { type: 'string', description: 'org, team:<slug>, user:<email>, service-account:<name> or token:<id>' },
            rpm: { type: ['integer', 'null'], minimum: 1 }, tpm: { type: ['integer', 'null'], minimum: 1 }, input_tpm: { type: ['integer', 'null'], minimum: 1 }, output_tpm: { type: ['integer', 'null'], minimum: 1 }, concurrent: { type: ['integer', 'null'], minimum: 1 },
          },
        },
        ConfigVersion: { type: 'object', properties: { version: { type: 'integer' }, createdAt: { type: 'string' }, createdBy: { type: 'string', description: 'user:<email> or token:<id>' }, comment: { type: ['string', 'null'], description: 'why' }, active: { type: 'boolean' } } },
        ConfigActive: { type: 'object', properties: { source: { enum: ['database', 'file'] }, version: { oneOf: [ref('ConfigVersion'), { type: 'null' }] }, document: { type: 'object', description: 'providers, pricing, aliases, grants, …; provider keys as ••••last4' } } },
        ConfigDraft: { type: 'object', description: 'the document as `document` (an object) or as `text` (JSON text: issues then carry line and column)', properties: { document: { type: 'object' }, text: { type: 'string' } } },
        ConfigSave: { allOf: [ref('ConfigDraft'), { type: 'object', required: ['reason'], properties: { reason: { type: 'string', maxLength: 500, description: 'why (kept in the history)' }, baseVersion: { type: ['integer', 'null'], description: 'refuse (409) if the active version is no longer this one' } } }], description: 'provider keys: a new key or env:NAME replaces, ••••last4 (or omitted) keeps the stored one' },
        ConfigIssue: { type: 'object', properties: { path: { type: 'string', example: 'providers.openai.baseurl' }, message: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' } } },
        ConfigDiff: { type: 'object', properties: { from: { type: 'integer' }, to: { type: 'integer' }, changes: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, before: {}, after: {} } } } } },
        ProbeResult: { type: 'object', properties: { provider: { type: 'string' }, ok: { type: 'boolean' }, status: { type: ['integer', 'null'] }, modelCount: { type: ['integer', 'null'] }, sample: { type: 'array', items: { type: 'string' } }, error: { type: ['string', 'null'] }, ms: { type: 'integer' }, pool: { enum: ['active', 'draft'] } } },
        AuditEvent: { type: 'object', properties: { id: { type: 'string' }, at: { type: 'string' }, actor: { type: 'string' }, org: { type: ['string', 'null'] }, action: { type: 'string' }, targetType: { type: 'string' }, targetId: { type: ['string', 'null'] }, before: { type: ['object', 'null'] }, after: { type: ['object', 'null'] } } },
      },
    },
  };
}
