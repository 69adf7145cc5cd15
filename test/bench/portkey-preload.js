'use strict';
// Preloaded (node -r) into the Portkey gateway only.
//
// Portkey 1.15.2 + the @hono/node-server this project resolves (1.19.x, newer than 1.14.2) fail
// every *streaming* chat completion with HTTP 500 {"message":"Something went wrong"} and
// "TypeError: immutable" in ResponseService.updateHeaders: hono's lightweight Response keeps the
// upstream fetch() response's Headers object, whose guard is "immutable", and Portkey then appends
// x-portkey-* headers to it. Known upstream bugs: Portkey-AI/gateway#1389 and #1550.
//
// Workaround: give streaming upstream responses a mutable copy of their headers. Only
// text/event-stream responses are touched, so non-streaming scenarios run Portkey unmodified; for
// streams the cost is one Headers copy per request.
const realFetch = globalThis.fetch;
const RealResponse = globalThis.Response; // captured before @hono/node-server replaces the global
globalThis.fetch = async function benchFetch(input, init) {
  const res = await realFetch(input, init);
  const type = res.headers.get('content-type');
  if (!type || !type.startsWith('text/event-stream')) return res;
  return new RealResponse(res.body, { status: res.status, statusText: res.statusText, headers: new Headers(res.headers) });
};
