import type { Settlement } from '../budgets/budget-enforcer.service';
import type { ToolEvent } from '../proxy/tools';
import type { RequestCapture } from '../logs/capture';

/** One proxied request as the usage writer stores it (a request_log row). */
export interface UsageRecord {
  id: string;
  createdAt: Date;
  requestId: string;
  orgId: string;
  teamId: string | null;
  tokenId: string | null;
  ownerUserId: string | null;
  serviceAccountId: string | null;
  endUser: string | null;
  sessionId: string | null;
  client: string | null;
  clientDevice: string | null;
  tags: string[] | null;
  provider: string | null;
  model: string | null;
  endpoint: string;
  stream: boolean;
  status: number;
  errorType: string | null;
  cancelled: boolean;
  latencyMs: number;
  ttftMs: number | null;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
  usageEstimated: boolean;
  /** Names of the tools the request offered. */
  toolsOffered: string[] | null;
  /** Tool calls made and results sent back; rows of tool_call. */
  toolEvents: ToolEvent[];
  /** Budget settlements, applied in the same transaction as the row. Not a column. */
  settlements?: Settlement[];
  /** The session (session.id) the writer assigned, set inside its transaction. */
  sluiceSessionId?: string | null;
  /** What capture gathered for this request (a request_capture row once written). Not a column. */
  capture?: RequestCapture | null;
}
