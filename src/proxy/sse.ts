/**
 * Splits an SSE byte stream into complete events without copying more than needed. Each event is
 * returned as the exact bytes received (so forwarding never re-serializes) plus its `event:` and
 * joined `data:` fields as text.
 */
export interface SseEvent {
  raw: Buffer;
  event?: string;
  data?: string;
}

/**
 * The `event:` and joined `data:` fields of one event's bytes. Separate from splitting, so the
 * proxy can write an event before it spends time reading it.
 */
export function parseSseEvent(raw: Buffer): SseEvent {
  return parseEvent(raw);
}

const LF = 0x0a;
const CR = 0x0d;

export class SseSplitter {
  private pending: Buffer | null = null;

  push(chunk: Buffer): SseEvent[] {
    return this.pushRaw(chunk).map(parseEvent);
  }

  /** Like push, but returns each complete event's bytes without reading them. */
  pushRaw(chunk: Buffer): Buffer[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    let i = 0;
    while (i < buf.length) {
      // An event ends at a blank line: \n\n, \r\n\r\n (or mixed).
      if (buf[i] === LF) {
        let j = i + 1;
        if (buf[j] === CR) j++;
        if (buf[j] === LF) {
          const end = j + 1;
          out.push(buf.subarray(start, end));
          start = end;
          i = end;
          continue;
        }
      }
      i++;
    }
    this.pending = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    return out;
  }

  /** Bytes of an unterminated final event, if the stream ended mid-event. */
  rest(): Buffer | null {
    const r = this.pending;
    this.pending = null;
    return r;
  }
}

function parseEvent(raw: Buffer): SseEvent {
  const text = raw.toString('utf8');
  let event: string | undefined;
  let data: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('data:')) {
      const v = line[5] === ' ' ? line.slice(6) : line.slice(5);
      data = data === undefined ? v : data + '\n' + v;
    } else if (line.startsWith('event:')) {
      event = line.slice(line[6] === ' ' ? 7 : 6);
    }
  }
  return { raw, event, data };
}
