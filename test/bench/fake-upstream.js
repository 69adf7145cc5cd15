'use strict';
// A minimal, fast, OpenAI-compatible upstream for the benchmark. Runs in its own process
// (started with child_process.fork by run.js) so its CPU use is not charged to the load client.
//
//   POST .../chat/completions   non-streaming JSON with usage, or SSE when "stream": true
//                               (stream_options.include_usage adds the usage chunk), then data: [DONE]
//   anything else               404
//
// Behaviour (initial values from env or argv, changed at runtime over IPC):
//   delayMs          time before the response (non-stream) or before the first chunk (stream)
//   chunkIntervalMs  time between stream chunks
//   chunks           number of content chunks in a stream (the last one carries finish_reason)
// env: FAKE_DELAY_MS, FAKE_CHUNK_INTERVAL_MS, FAKE_CHUNKS, FAKE_PORT (0 = any)
// argv: --delay-ms=N --chunk-interval-ms=N --chunks=N --port=N
// IPC in:  {type:'behave', delayMs?, chunkIntervalMs?, chunks?, id}  -> {type:'behaved', id, behaviour}
//          {type:'stats', id}                                         -> {type:'stats', id, stats}  (and resets them)
// IPC out: {type:'listening', port} once ready.
const http = require('node:http');

function arg(name) {
  const p = `--${name}=`;
  const a = process.argv.find((x) => x.startsWith(p));
  return a === undefined ? undefined : a.slice(p.length);
}
function num(v, dflt) {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) ? dflt : n;
}

const behaviour = {
  delayMs: num(arg('delay-ms') ?? process.env.FAKE_DELAY_MS, 0),
  chunkIntervalMs: num(arg('chunk-interval-ms') ?? process.env.FAKE_CHUNK_INTERVAL_MS, 20),
  chunks: Math.max(1, num(arg('chunks') ?? process.env.FAKE_CHUNKS, 5)),
};
const port = num(arg('port') ?? process.env.FAKE_PORT, 0);

let stats = { chat: 0, stream: 0, notFound: 0, badRequest: 0, authMissing: 0 };
let seq = 0;
const created = Math.floor(Date.now() / 1000);
const WORDS = ['Hello', ' from', ' the', ' fake', ' upstream', ' bench', ' model', '.'];

function completionBody(model) {
  const id = `chatcmpl-bench${(++seq).toString(36)}`;
  return (
    `{"id":"${id}","object":"chat.completion","created":${created},"model":${JSON.stringify(model)},` +
    `"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fake upstream."},"logprobs":null,"finish_reason":"stop"}],` +
    `"usage":{"prompt_tokens":8,"completion_tokens":7,"total_tokens":15},"system_fingerprint":"fp_bench"}`
  );
}

function chunkEvent(id, model, delta, finish) {
  return (
    `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},` +
    `"system_fingerprint":"fp_bench","choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${finish ? '"stop"' : 'null'}}]}\n\n`
  );
}

function handleChat(req, res, raw) {
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    stats.badRequest++;
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}');
    return;
  }
  if (!req.headers.authorization) stats.authMissing++;
  const model = typeof body.model === 'string' ? body.model : 'gpt-bench';
  const { delayMs, chunkIntervalMs, chunks } = behaviour;

  if (body.stream !== true) {
    stats.chat++;
    const send = () => {
      const out = completionBody(model);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
    return;
  }

  stats.stream++;
  const includeUsage = !!(body.stream_options && body.stream_options.include_usage);
  const id = `chatcmpl-bench${(++seq).toString(36)}`;
  let sent = 0;
  let closed = false;
  res.on('close', () => (closed = true));
  const next = () => {
    if (closed) return;
    if (sent === 0) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const last = sent === chunks - 1;
    const delta = sent === 0 ? { role: 'assistant', content: WORDS[0] } : { content: WORDS[sent % WORDS.length] };
    let out = chunkEvent(id, model, delta, last);
    sent++;
    if (!last) {
      res.write(out);
      setTimeout(next, chunkIntervalMs);
      return;
    }
    if (includeUsage) {
      out +=
        `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},` +
        `"system_fingerprint":"fp_bench","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":${chunks},"total_tokens":${8 + chunks}}}\n\n`;
    }
    res.end(out + 'data: [DONE]\n\n');
  };
  // The first chunk leaves after delayMs (headers go with it), then one chunk every chunkIntervalMs.
  if (delayMs > 0) setTimeout(next, delayMs);
  else next();
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url.split('?')[0].endsWith('/chat/completions')) {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => handleChat(req, res, parts.length === 1 ? parts[0].toString() : Buffer.concat(parts).toString()));
    return;
  }
  stats.notFound++;
  req.resume();
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(`{"error":{"message":"fake upstream: no route ${req.method} ${req.url.replace(/[^\w/.-]/g, '')}","type":"not_found"}}`);
});
// Gateways keep pooled connections; never let the upstream close them mid-benchmark.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;

server.listen(port, '127.0.0.1', () => {
  const p = server.address().port;
  if (process.send) process.send({ type: 'listening', port: p });
  else process.stdout.write(`fake upstream listening on http://127.0.0.1:${p}\n`);
});

if (process.send) {
  process.on('message', (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'behave') {
      for (const k of ['delayMs', 'chunkIntervalMs', 'chunks']) if (typeof m[k] === 'number') behaviour[k] = m[k];
      behaviour.chunks = Math.max(1, behaviour.chunks);
      process.send({ type: 'behaved', id: m.id, behaviour: { ...behaviour } });
    } else if (m.type === 'stats') {
      process.send({ type: 'stats', id: m.id, stats });
      stats = { chat: 0, stream: 0, notFound: 0, badRequest: 0, authMissing: 0 };
    }
  });
  // The parent went away (crash, SIGKILL): do not linger.
  process.on('disconnect', () => process.exit(0));
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
