/**
 * Starts a streaming chat completion, reads `events` SSE events, then hangs up like a client that
 * lost interest. Returns the request id Sluice answered with.
 */
export async function cutStream(baseUrl: string, secret: string, body: Record<string, unknown>, events = 3): Promise<string> {
  const ac = new AbortController();
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    signal: ac.signal,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ stream: true, ...body }),
  });
  const reader = res.body!.getReader();
  let got = 0;
  while (got < events) {
    const { value, done } = await reader.read();
    if (done) break;
    got += (new TextDecoder().decode(value).match(/\n\n/g) ?? []).length;
  }
  ac.abort();
  return res.headers.get('x-request-id')!;
}
