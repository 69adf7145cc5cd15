import type { IncomingHttpHeaders } from 'node:http';
import type { PoolClient } from 'pg';
import type { UsageRecord } from '../usage/usage-record';
import type { CaptureSettings } from './capture-policy';
import { callerSecrets, Redactor, redactorFor } from './redaction';
import { StreamReassembler } from './stream-reassembly';

/**
 * Room kept past the cap before redacting, so a secret that straddles the cap is redacted whole
 * before the text is cut (keys are far shorter than this).
 */
const MARGIN = 4096;

/**
 * Bytes held by sealed captures not yet turned into rows, in this process. A database outage
 * queues usage records; captures must not grow that queue's memory without bound, so past the
 * budget new captures keep headers and sizes only.
 */
let pendingBytes = 0;
export const captureBuffer = { get pending() { return pendingBytes; }, shed: 0 };

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
  /** Size of what the client sent (or, when refused early, 0 until serialised by the writer). */
  requestBytes = 0;
  /** Bodies dropped because the capture buffer was full. */
  shed = false;
  private held = 0;
  private row: CaptureRow | null = null;

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

  /**
   * Called once when the request finishes: sizes are taken and references trimmed to what the cap
   * can use (the forwarded body string is copied down to the cap, answer chunks past it are let
   * go), so a queued capture holds at most a few caps' worth. `max` is the process-wide budget.
   */
  seal(max: number): void {
    const keep = this.settings.capBytes + MARGIN;
    if (this.requestBody !== null) {
      this.requestBytes = Buffer.byteLength(this.requestBody);
      // A copy, not a slice: a V8 slice would keep the whole original string alive.
      if (!this.full) this.requestBody = null;
      else if (this.requestBody.length > keep) this.requestBody = Buffer.from(this.requestBody.slice(0, keep), 'utf8').toString('utf8');
    }
    if (this.bodyChunks) {
      if (!this.full) this.bodyChunks = null;
      else {
        let n = 0;
        let i = 0;
        while (i < this.bodyChunks.length && n < keep) n += this.bodyChunks[i++].length;
        if (i < this.bodyChunks.length) this.bodyChunks = this.bodyChunks.slice(0, i);
      }
    }
    const size = (this.requestBody?.length ?? 0) * 2 + (this.bodyChunks?.reduce((n, c) => n + c.length, 0) ?? 0) + this.streamKept * 2;
    if (this.full && pendingBytes + size > max) {
      this.shed = true;
      captureBuffer.shed++;
      this.requestBody = null;
      this.bodyChunks = null;
      this.streamChunks.length = 0;
      return;
    }
    this.held = size;
    pendingBytes += size;
  }

  /** The row, built once (a retried batch reuses it) and the raw material let go. */
  build(r: UsageRecord): CaptureRow {
    if (this.row) return this.row;
    this.row = captureRow(r, this);
    this.requestBody = null;
    this.bodyChunks = null;
    this.streamChunks.length = 0;
    pendingBytes -= this.held;
    this.held = 0;
    return this.row;
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
  const red = redactorFor(c.providerKeys, c.settings.patterns).with(callerSecrets(c.requestHeaders as Record<string, unknown>));
  const cap = c.settings.capBytes;
  let requestText = c.requestBody;
  if (requestText === null && c.requestBytes === 0 && c.requestObject !== undefined && c.requestObject !== null) {
    try {
      requestText = JSON.stringify(c.requestObject);
    } catch {
      requestText = null;
    }
  }
  const requestBytes = c.requestBytes || (requestText === null ? 0 : Buffer.byteLength(requestText));
  const full = c.full && !c.shed;
  let responseBody: string | null = null;
  let responseBytes = c.bodyBytes;
  let responseStream: string | null = null;
  if (c.streamed) {
    const rebuilt = c.reassembler?.result() ?? null;
    responseBytes = rebuilt === null ? 0 : Buffer.byteLength(rebuilt);
    if (full) {
      responseBody = rebuilt === null ? null : capText(rebuilt, cap, red);
      responseStream = c.streamChunks.length ? capChunks(c.streamChunks, cap, red) : null;
    }
  } else if (full && c.bodyChunks?.length) {
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
    mode: full ? 'full' : 'metadata',
    capBytes: cap,
    requestHeaders: JSON.stringify(red.headers(c.requestHeaders as Record<string, unknown>)),
    responseHeaders: responseHeaders ? JSON.stringify(responseHeaders) : null,
    requestBody: full && requestText !== null ? noNul(capText(requestText, cap, red)) : null,
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
      rows.push(r.capture.build(r));
    } catch (e) {
      onError?.(e);
    }
  }
  if (!rows.length) return 0;
  await client.query(INSERT, COLS.map(([k]) => rows.map((x) => x[k])));
  return rows.length;
}
