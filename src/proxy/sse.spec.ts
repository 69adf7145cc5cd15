import { SseSplitter } from './sse';

describe('SseSplitter', () => {
  it('splits events across arbitrary chunk boundaries and keeps exact bytes', () => {
    const stream = 'event: a\ndata: {"x":1}\n\ndata: {"y":2}\r\n\r\ndata: [DONE]\n\n';
    for (let cut = 1; cut < stream.length; cut++) {
      const s = new SseSplitter();
      const events = [...s.push(Buffer.from(stream.slice(0, cut))), ...s.push(Buffer.from(stream.slice(cut)))];
      expect(events.map((e) => e.data)).toEqual(['{"x":1}', '{"y":2}', '[DONE]']);
      expect(events[0].event).toBe('a');
      expect(Buffer.concat(events.map((e) => e.raw)).toString()).toBe(stream);
      expect(s.rest()).toBeNull();
    }
  });

  it('joins multi-line data and returns an unterminated tail', () => {
    const s = new SseSplitter();
    const ev = s.push(Buffer.from('data: a\ndata: b\n\ndata: partial'));
    expect(ev[0].data).toBe('a\nb');
    expect(s.rest()?.toString()).toBe('data: partial');
  });
});
