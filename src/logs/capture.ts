import type { IncomingHttpHeaders } from 'node:http';
import type { PoolClient } from 'pg';
import type { UsageRecord } from '../usage/usage-record';
import type { CaptureSettings } from './capture-policy';
import { callerSecrets, Redactor } from './redaction';
import { StreamReassembler } from './stream-reassembly';

/**
 * Room kept past the cap before redacting, so a secret that straddles the cap is redacted whole
 * before the text is cut (keys are far shorter than this).
 */
const MARGIN = 4096;

/**
 * What the hot path gathers for one request's capture: references to what it already has (the
 * client's headers, the body string it forwarded, the upstream's headers and body chunks) and, for
 * streams, the raw chunks up to the cap plus the reassembler fed by the stream tap. Nothing here
 * copies or re-serialises on the request path; redaction, capping and encoding happen in the usage
 * writer when the batch is written.
 */
export class RequestCapture {
  requestBody: string | null = null;
  responseStatus: number | null = null;
  responseHeaders: Record<string, unknown> | null = null;
  /** Non-streamed answer (or error body) chunks, and its full size. */
  bodyChunks: Buffer[] | null = null;
  bodyBytes = 0;
  /** Raw stream chunks as received, kept up to the cap. */
  readonly streamChunks: Buffer[] = [];
  streamKept = 0;
  streamBytes = 0;
  streamed = false;
  readonly reassembler: StreamReassembler | null;
  /** Literal secrets to redact (the provider keys), set when the request finishes. */
  providerKeys: readonly string[] = [];

  constructor(
    readonly settings: CaptureSettings,
    readonly requestHeaders: IncomingHttpHeaders,
    /** The parsed client body, serialised only when the request was refused before forwarding. */
    readonly requestObject: unknown,
    endpoint: import('../proxy/usage-tap').Endpoint,
  ) {
    this.reassembler = settings.mode === 'full' ? new StreamReassembler(endpoint, settings.capBytes) : null;
  }

  get full(): boolean {
    return this.settings.mode === 'full';
  }

  /** Called for every upstream stream chunk: a push while under the cap, a counter after. */
  onStreamChunk(chunk: Buffer): void {
    this.streamBytes += chunk.length;
    if (this.settings.mode === 'full' && this.streamKept < this.settings.capBytes + MARGIN) {
      this.streamChunks.push(chunk);
      this.streamKept += chunk.length;
    }
  }
}

/** One request_capture row, redacted and capped, ready to insert. */
export interface CaptureRow {
  requestRowId: string;
  createdAt: Date;
  orgId: string;
  teamId: string | null;
  tokenId: string | null;
  ownerUserId: string | null;
  endUser: string | null;
  sessionId: string | null;
  mode: 'metadata' | 'full';
  capBytes: number;
  requestHeaders: string;
  responseHeaders: string | null;
  requestBody: string | null;
  requestBytes: number;
  responseBody: string | null;
  responseBytes: number;
  responseStream: string | null;
  streamBytes: number | null;
}

/** Text of at most `cap` bytes from the start of `s`, redacted before it is cut. */
function capText(s: string, cap: number, red: Redactor): string {
  const head = s.length > cap + MARGIN ? s.slice(0, cap + MARGIN) : s;
  const clean = red.text(head);
  const buf = Buffer.from(clean, 'utf8');
  return buf.length <= cap ? clean : buf.subarray(0, cap).toString('utf8');
}

function capChunks(chunks: Buffer[], cap: number, red: Redactor): string {
  const parts: Buffer[] = [];
  let n = 0;
  for (const c of chunks) {
    if (n >= cap + MARGIN) break;
    parts.push(c);
    n += c.length;
  }
  return capText(Buffer.concat(parts).toString('utf8'), cap, red);
}

/** PostgreSQL text cannot hold NUL; a binary answer is stored with it replaced. */
const noNul = (s: string | null) => (s !== null && s.includes('\u0000') ? s.replace(/\u0000/g, '\uFFFD') : s);

export function captureRow(r: UsageRecord, c: RequestCapture): CaptureRow {
  const red = new Redactor([...callerSecrets(c.requestHeaders as Record<string, unknown>), ...c.providerKeys], c.settings.patterns);
  const cap = c.settings.capBytes;
  let requestText = c.requestBody;
  if (requestText === null && c.requestObject !== undefined && c.requestObject !== null) {
    try {
      requestText = JSON.stringify(c.requestObject);
    } catch {
      requestText = null;
    }
  }
  const requestBytes = requestText === null ? 0 : Buffer.byteLength(requestText);
  let responseBody: string | null = null;
  let responseBytes = c.bodyBytes;
  let responseStream: string | null = null;
  if (c.streamed) {
    const rebuilt = c.reassembler?.result() ?? null;
    responseBytes = rebuilt === null ? 0 : Buffer.byteLength(rebuilt);
    if (c.full) {
      responseBody = rebuilt === null ? null : capText(rebuilt, cap, red);
      responseStream = c.streamChunks.length ? capChunks(c.streamChunks, cap, red) : null;
    }
  } else if (c.full && c.bodyChunks?.length) {
    responseBody = capChunks(c.bodyChunks, cap, red);
  }
  const responseHeaders = c.responseHeaders ? red.headers(c.responseHeaders) : null;
  if (responseHeaders && c.responseStatus !== null) responseHeaders[':status'] = String(c.responseStatus);
  return {
    requestRowId: r.id,
    createdAt: r.createdAt,
    orgId: r.orgId,
    teamId: r.teamId,
    tokenId: r.tokenId,
    ownerUserId: r.ownerUserId,
    endUser: r.endUser,
    sessionId: r.sluiceSessionId ?? null,
    mode: c.settings.mode,
    capBytes: cap,
    requestHeaders: JSON.stringify(red.headers(c.requestHeaders as Record<string, unknown>)),
    responseHeaders: responseHeaders ? JSON.stringify(responseHeaders) : null,
    requestBody: c.full && requestText !== null ? noNul(capText(requestText, cap, red)) : null,
    requestBytes,
    responseBody: noNul(responseBody),
    responseBytes,
    responseStream: noNul(responseStream),
    streamBytes: c.streamed ? c.streamBytes : null,
  };
}

const COLS: [keyof CaptureRow, string, string][] = [
  ['requestRowId', 'request_row_id', 'uuid'],
  ['createdAt', 'created_at', 'timestamptz'],
  ['orgId', 'org_id', 'uuid'],
  ['teamId', 'team_id', 'uuid'],
  ['tokenId', 'token_id', 'uuid'],
  ['ownerUserId', 'owner_user_id', 'uuid'],
  ['endUser', 'end_user', 'text'],
  ['sessionId', 'sluice_session_id', 'uuid'],
  ['mode', 'mode', 'text'],
  ['capBytes', 'body_cap_bytes', 'int4'],
  ['requestHeaders', 'request_headers', 'jsonb'],
  ['responseHeaders', 'response_headers', 'jsonb'],
  ['requestBody', 'request_body', 'text'],
  ['requestBytes', 'request_bytes', 'int4'],
  ['responseBody', 'response_body', 'text'],
  ['responseBytes', 'response_bytes', 'int4'],
  ['responseStream', 'response_stream', 'text'],
  ['streamBytes', 'stream_bytes', 'int4'],
];

const INSERT = `insert into request_capture (${COLS.map((c) => c[1]).join(', ')})
select * from unnest(${COLS.map(([, , t], i) => `$${i + 1}::${t}[]`).join(', ')})
on conflict (request_row_id) do nothing`;

/**
 * Inserts the batch's captures in the writer's transaction (one statement). Redaction and capping
 * run here, off the request path; a capture that cannot be built is skipped, never the batch.
 */
export async function insertCaptures(client: PoolClient, batch: UsageRecord[], onError?: (e: unknown) => void): Promise<number> {
  const rows: CaptureRow[] = [];
  for (const r of batch) {
    if (!r.capture) continue;
    try {
      rows.push(captureRow(r, r.capture));
    } catch (e) {
      onError?.(e);
    }
  }
  if (!rows.length) return 0;
  await client.query(INSERT, COLS.map(([k]) => rows.map((x) => x[k])));
  return rows.length;
}
