import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

export interface UpstreamCall {
  /** Settles with the response head, or rejects with undici's error (connect, timeout, abort). */
  response: Promise<UpstreamResponse>;
  /** Cuts the request (and its connection) whatever stage it is in. */
  abort(reason: Error): void;
}

/**
 * One upstream request through undici's dispatcher callbacks rather than `request()`: each chunk
 * reaches the proxy in the same tick as the socket read that carried it, with no Readable stream,
 * async iterator or async-hooks scope in between (that machinery showed in time to first token).
 */
export function callUpstream(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions): UpstreamCall {
  let controller: Dispatcher.DispatchController | null = null;
  let pendingAbort: Error | null = null;
  let body: UpstreamBody | null = null;
  let resolve!: (r: UpstreamResponse) => void;
  let reject!: (e: Error) => void;
  const response = new Promise<UpstreamResponse>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
      if (pendingAbort) c.abort(pendingAbort);
    },
    onResponseStart(c, statusCode, headers) {
      if (statusCode < 200) return; // 1xx: the real head follows
      body = new UpstreamBody(c);
      resolve({ statusCode, headers, body });
    },
    onResponseData(_c, chunk) {
      body?.push(chunk);
    },
    onResponseEnd() {
      body?.end();
    },
    onResponseError(_c, err) {
      if (body) body.fail(err);
      else reject(err);
    },
  };
  try {
    dispatcher.dispatch(opts, handler);
  } catch (e) {
    reject(e as Error);
  }
  return {
    response,
    abort(reason) {
      if (controller) controller.abort(reason);
      else pendingAbort = reason;
    },
  };
}

/**
 * A response body handed to one consumer chunk by chunk. Chunks that arrive before the consumer
 * attaches (the head and the first chunk usually share a packet) wait in order. When the consumer
 * returns a promise (its client is slow), reading from the upstream pauses until it settles.
 */
export class UpstreamBody {
  private readonly queued: Buffer[] = [];
  private state: 'open' | 'ended' | 'failed' = 'open';
  private failure: Error | null = null;
  private sink: ((chunk: Buffer) => Promise<void> | null) | null = null;
  private settle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private waiting = false;

  constructor(private readonly controller: Dispatcher.DispatchController) {}

  /** @internal from the dispatcher */
  push(chunk: Buffer): void {
    if (this.sink && !this.waiting && !this.queued.length) this.deliver(chunk);
    else this.queued.push(chunk);
  }

  /** @internal */
  end(): void {
    if (this.state === 'open') this.state = 'ended';
    this.finish();
  }

  /** @internal */
  fail(e: Error): void {
    if (this.state === 'open') {
      this.state = 'failed';
      this.failure = e;
    }
    this.finish();
  }

  /**
   * Calls `onChunk` synchronously for every chunk, in order. Resolves at the end of the body,
   * rejects on an upstream error (timeout, reset, abort) after the chunks received before it.
   */
  each(onChunk: (chunk: Buffer) => Promise<void> | null): Promise<void> {
    if (this.sink) throw new Error('upstream body already consumed');
    this.sink = onChunk;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.drain();
    });
  }

  private deliver(chunk: Buffer): void {
    const wait = this.sink!(chunk);
    if (!wait) return;
    this.waiting = true;
    if (this.state === 'open') this.controller.pause();
    void wait.then(() => {
      this.waiting = false;
      this.drain();
      if (!this.waiting && this.state === 'open') this.controller.resume();
    });
  }

  private drain(): void {
    while (this.queued.length && !this.waiting) this.deliver(this.queued.shift()!);
    this.finish();
  }

  private finish(): void {
    if (!this.settle || this.waiting || this.queued.length || this.state === 'open') return;
    const { resolve, reject } = this.settle;
    this.settle = null;
    if (this.state === 'ended') resolve();
    else reject(this.failure!);
  }
}
