import { attribute, clientFromHeaders, parseClaudeCodeUserId } from './attribution';

const SHA = 'a'.repeat(64);
const UUID = '123e4567-e89b-42d3-a456-426614174000';

describe('attribution', () => {
  it('prefers the body user_id, then OpenAI user, then headers, then a non-Claude-Code metadata.user_id', () => {
    expect(attribute({}, { user_id: 'u1', user: 'u2' }).endUser).toBe('u1');
    expect(attribute({ 'x-sluice-user': 'h' }, { user: 'u2' }).endUser).toBe('u2');
    expect(attribute({ 'x-sluice-user': 'h', 'x-openwebui-user-email': 'e@x' }, {}).endUser).toBe('h');
    expect(attribute({ 'x-openwebui-user-email': 'e@x', 'x-openwebui-user-id': 'id' }, {}).endUser).toBe('e@x');
    expect(attribute({}, { metadata: { user_id: 'alice' } }).endUser).toBe('alice');
  });

  it('reads Claude Code metadata.user_id as a device and session, not a person', () => {
    const legacy = `user_${SHA}_account_acc1_session_${UUID}`;
    expect(parseClaudeCodeUserId(legacy)).toEqual({ deviceId: SHA, accountId: 'acc1', sessionId: UUID });
    const a = attribute({}, { metadata: { user_id: legacy } });
    expect(a.endUser).toBeNull();
    expect(a.sessionId).toBe(UUID);
    expect(a.deviceId).toBe(SHA);
    const json = JSON.stringify({ device_id: 'dev', account_uuid: 'acc', session_id: 'sess-1' });
    expect(attribute({}, { metadata: { user_id: json } })).toMatchObject({ endUser: null, sessionId: 'sess-1', deviceId: 'dev' });
  });

  it('orders session sources', () => {
    expect(attribute({ 'x-sluice-session': 's1', 'x-claude-code-session-id': 's2' }, {}).sessionId).toBe('s1');
    expect(attribute({ 'x-claude-code-session-id': 's2', 'session-id': 's3' }, {}).sessionId).toBe('s2');
    expect(attribute({ 'session-id': 's3' }, {}).sessionId).toBe('s3');
  });

  it('parses tags and clients', () => {
    expect(attribute({ 'x-sluice-tags': 'ci, nightly,ci,' }, {}).tags).toEqual(['ci', 'nightly']);
    expect(clientFromHeaders({ 'user-agent': 'claude-cli/2.1.90 (external, cli)' })).toBe('claude-code/2.1.90');
    expect(clientFromHeaders({ 'user-agent': 'OpenAI/JS 6.1.0' })).toBe('openai-sdk-js/6.1.0');
    expect(clientFromHeaders({ 'user-agent': 'Anthropic/JS 0.60.0' })).toBe('anthropic-sdk-js/0.60.0');
    expect(clientFromHeaders({ 'user-agent': 'curl/8.0', 'x-app': 'my-app' })).toBe('my-app');
  });
});
