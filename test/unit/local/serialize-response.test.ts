import { statusText } from '../../../lambda/protocol/status-text';
import { serializeResponse } from '../../../local/http/serialize-response';

const NOW = new Date('2026-11-23T09:05:01Z');
const text = (head: Buffer) => head.toString('latin1');

describe('serializeResponse', () => {
  it('writes the status line with its reason, the headers, Date and Content-Length', () => {
    const { head, body, close } = serializeResponse(
      { statusCode: 200, headers: { 'BITS-Packet-Type': 'Ack' }, body: Buffer.from('abc') },
      { close: false, now: NOW },
    );
    expect(text(head)).toBe(
      'HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\nDate: Mon, 23 Nov 2026 09:05:01 GMT\r\nContent-Length: 3\r\n\r\n',
    );
    expect(body?.toString()).toBe('abc');
    expect(close).toBe(false);
  });

  it('writes Content-Length: 0 and no body when there is none', () => {
    const { head, body } = serializeResponse({ statusCode: 416, headers: {} }, { close: false, now: NOW });
    expect(text(head)).toMatch(/^HTTP\/1\.1 416 Range Not Satisfiable\r\n/);
    expect(text(head)).toContain('\r\nContent-Length: 0\r\n');
    expect(body).toBeUndefined();
  });

  it('replaces the framing headers the application sent with its own', () => {
    const { head } = serializeResponse(
      {
        statusCode: 200,
        headers: {
          'Content-Length': '0',
          'Transfer-Encoding': 'chunked',
          Date: 'yesterday',
          'Keep-Alive': 'timeout=5',
          Connection: 'keep-alive',
        },
        body: Buffer.from('hello'),
      },
      { close: false, now: NOW },
    );
    expect(text(head)).toBe(
      'HTTP/1.1 200 OK\r\nDate: Mon, 23 Nov 2026 09:05:01 GMT\r\nContent-Length: 5\r\n\r\n',
    );
  });

  it('adds Connection: close when closing, and closes when the application asks', () => {
    expect(text(serializeResponse({ statusCode: 400, headers: {} }, { close: true }).head)).toContain(
      '\r\nConnection: close\r\n',
    );
    const asked = serializeResponse({ statusCode: 200, headers: { connection: 'Close' } }, { close: false });
    expect(asked.close).toBe(true);
    expect(text(asked.head)).toContain('\r\nConnection: close\r\n');
  });

  it('sends no body and no Content-Length on 204 and 304', () => {
    for (const statusCode of [204, 304]) {
      const { head, body } = serializeResponse(
        { statusCode, headers: {}, body: Buffer.from('x') },
        { close: false },
      );
      expect(text(head)).not.toContain('Content-Length');
      expect(body).toBeUndefined();
    }
  });

  it('keeps Content-Length but drops the body for HEAD', () => {
    const { head, body } = serializeResponse(
      { statusCode: 200, headers: {}, body: Buffer.from('abc') },
      { close: false, headOnly: true },
    );
    expect(text(head)).toContain('\r\nContent-Length: 3\r\n');
    expect(body).toBeUndefined();
  });

  it('answers HEAD with the Content-Length a GET would carry when the application gives one without a body', () => {
    const reply = serializeResponse(
      { statusCode: 200, headers: { 'Content-Length': '10240' } },
      { close: false, headOnly: true },
    );
    expect(text(reply.head)).toContain('\r\nContent-Length: 10240\r\n');
    expect(text(reply.head).match(/Content-Length/g)).toHaveLength(1);
    expect(reply.body).toBeUndefined();
    // Not for GET, and not a value that is no length.
    const get = serializeResponse(
      { statusCode: 200, headers: { 'Content-Length': '10240' } },
      { close: false },
    );
    expect(text(get.head)).toContain('\r\nContent-Length: 0\r\n');
    const bogus = serializeResponse(
      { statusCode: 200, headers: { 'Content-Length': '1e3' } },
      { close: false, headOnly: true },
    );
    expect(text(bogus.head)).toContain('\r\nContent-Length: 0\r\n');
  });

  it('refuses to write a header that could split the response, a non-token name or a bad status', () => {
    const attempt = (statusCode: number, headers: Record<string, string>) => () =>
      serializeResponse({ statusCode, headers }, { close: false });
    expect(attempt(200, { 'X-A': 'a\r\nInjected: 1' })).toThrow(/unsendable/);
    expect(attempt(200, { 'X-A': 'a\nb' })).toThrow(/unsendable/);
    expect(attempt(200, { 'X-A': 'a\u0100' })).toThrow(/unsendable/);
    expect(attempt(200, { 'X A': 'v' })).toThrow(/not a token/);
    expect(attempt(200, { 'X-A': 42 as unknown as string })).toThrow(/unsendable/);
    for (const status of [100, 199, 600, 200.5, Number.NaN])
      expect(attempt(status, {})).toThrow(/final status/);
  });

  it('keeps obs-text values byte for byte', () => {
    const { head } = serializeResponse({ statusCode: 200, headers: { 'X-A': 'caf\xe9' } }, { close: false });
    expect(head.includes(Buffer.from('X-A: caf\xe9\r\n', 'latin1'))).toBe(true);
  });
});

describe('statusText', () => {
  it('names the statuses the front and the BITS handler send, and falls back for others', () => {
    for (const [status, reason] of [
      [100, 'Continue'],
      [408, 'Request Timeout'],
      [413, 'Content Too Large'],
      [417, 'Expectation Failed'],
      [431, 'Request Header Fields Too Large'],
      [501, 'Not Implemented'],
    ] as const) {
      expect(statusText(status)).toBe(reason);
    }
    expect(statusText(299)).toBe('Unknown');
  });
});
