import { LoginLink } from '../auth/login-link.entity';
import { AuditEvent } from '../common/audit-event.entity';
import { AppUser } from '../orgs/app-user.entity';
import { Membership } from '../orgs/membership.entity';
import { Organization } from '../orgs/organization.entity';
import { ServiceAccount } from '../orgs/service-account.entity';
import { Team, TeamMember } from '../orgs/team.entity';
import { ApiToken } from '../tokens/api-token.entity';
import { RequestLog } from '../usage/request-log.entity';

/** Every entity, listed explicitly: no folder scanning, so dist and ts-jest see the same set. */
export const ENTITIES = [Organization, Team, TeamMember, AppUser, Membership, ServiceAccount, ApiToken, RequestLog, AuditEvent, LoginLink];
