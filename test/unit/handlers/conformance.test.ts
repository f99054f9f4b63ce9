import { createHash, randomBytes } from 'node:crypto';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import type { Answer } from '../../helpers/events';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { makeTestBed, type TestBed } from '../../helpers/test-deps';

const KEY = 'uploads/up/a.bin';
const E_INVALIDARG = '0x80070057';

/** Every response is an Ack with an empty body (§13 preamble). */
function expectAck(answer: Answer, status: number): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['bits-packet-type']).toBe('Ack');
  expect(answer.headers['content-length']).toBe('0');
  expect(answer.body).toBe('');
}

/** ERR(x): both error header names with x, and context 0x5. */
function expectError(answer: Answer, status: number, hresult: string): void {
  expectAck(answer, status);
  expect(answer.headers['bits-error-code']).toBe(hresult);
  expect(answer.headers['bits-error']).toBe(hresult);
  expect(answer.headers['bits-error-context']).toBe('0x5');
}

function expectNoError(answer: Answer): void {
  expect(answer.headers['bits-error-code']).toBeUndefined();
  expect(answer.headers['bits-error']).toBeUndefined();
  expect(answer.headers['bits-error-context']).toBeUndefined();
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const createHeaders = (protocols: string) => ({
  'BITS-Packet-Type': 'Create-Session',
  'BITS-Supported-Protocols': protocols,
});

describe('BITS conformance cases (bits-protocol.md §13)', () => {
  let bed: TestBed;
  beforeEach(() => {
    bed = makeTestBed({ maxFragmentSize: String(64 * 1024), maxUploadSize: String(1024 * 1024) });
  });

  describe('Ping and request validation', () => {
    it('T01: answers a Ping with 200 and no error headers', async () => {
      const answer = await sendPacket(bed.handler, 'Ping');
      expectAck(answer, 200);
      expectNoError(answer);
    });

    it('T02: matches the packet type case-insensitively', async () => {
      expectAck(await sendPacket(bed.handler, 'pinG'), 200);
    });

    it('T03: refuses a Ping with a body with 400 E_INVALIDARG', async () => {
      expectError(
        await sendPacket(bed.handler, 'Ping', undefined, { body: randomBytes(8) }),
        400,
        E_INVALIDARG,
      );
    });

    it('T04: refuses a request without BITS-Packet-Type with 400 E_INVALIDARG', async () => {
      expectError(await send(bed.handler, {}), 400, E_INVALIDARG);
    });

    it('T05: refuses an unknown packet type with 400 E_INVALIDARG', async () => {
      expectError(await sendPacket(bed.handler, 'AWESOME-MESSAGE'), 400, E_INVALIDARG);
    });

    it('T06: answers GET with 405 and Allow, and creates no session', async () => {
      const answer = await send(bed.handler, {
        method: 'GET',
        headers: createHeaders(BITS_PROTOCOL),
      });
      expectError(answer, 405, E_INVALIDARG);
      expect(answer.headers.allow).toBe('BITS_POST, POST');
      expect(answer.headers['bits-session-id']).toBeUndefined();
      expect(bed.uploads.uploads.size).toBe(0);
    });

    it('T06 (D14): accepts POST with or without X-Http-Method-Override: BITS_POST, refuses other overrides', async () => {
      expectAck(await send(bed.handler, { method: 'POST', headers: { 'BITS-Packet-Type': 'Ping' } }), 200);
      const override = { 'BITS-Packet-Type': 'Ping', 'X-Http-Method-Override': 'BITS_POST' };
      expectAck(await send(bed.handler, { method: 'POST', headers: override }), 200);
      const other = { ...override, 'X-Http-Method-Override': 'DELETE' };
      expectError(await send(bed.handler, { method: 'POST', headers: other }), 405, E_INVALIDARG);
    });
  });

  describe('Create-Session', () => {
    it('T07: answers 200 with BITS-Protocol, a braced GUID session id and Accept-Encoding: identity', async () => {
      const answer = await send(bed.handler, { headers: createHeaders(BITS_PROTOCOL) });
      expectAck(answer, 200);
      expect(answer.headers['bits-protocol']).toBe(BITS_PROTOCOL);
      expect(answer.headers['bits-session-id']).toMatch(/^\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$/);
      expect(answer.headers['accept-encoding']).toBe('identity');
      expect(answer.headers['bits-host-id']).toBeUndefined();
      expectNoError(answer);
    });

    it('T08: picks BITS 1.5 from a list that starts with an unknown GUID', async () => {
      const answer = await send(bed.handler, {
        headers: createHeaders(`{11111111-1111-1111-1111-111111111111} ${BITS_PROTOCOL}`),
      });
      expectAck(answer, 200);
      expect(answer.headers['bits-protocol']).toBe(BITS_PROTOCOL);
    });

    it('T09: accepts a comma-separated protocol list', async () => {
      const answer = await send(bed.handler, {
        headers: createHeaders(`{11111111-1111-1111-1111-111111111111},${BITS_PROTOCOL}`),
      });
      expectAck(answer, 200);
    });

    it('T10: compares the protocol GUID case-insensitively and answers in the canonical spelling', async () => {
      const answer = await send(bed.handler, { headers: createHeaders(BITS_PROTOCOL.toUpperCase()) });
      expectAck(answer, 200);
      expect(answer.headers['bits-protocol']).toBe(BITS_PROTOCOL);
    });

    it('T11: refuses Create-Session without BITS-Supported-Protocols, with no protocol or session id', async () => {
      const answer = await send(bed.handler, { headers: { 'BITS-Packet-Type': 'Create-Session' } });
      expectError(answer, 400, E_INVALIDARG);
      expect(answer.headers['bits-protocol']).toBeUndefined();
      expect(answer.headers['bits-session-id']).toBeUndefined();
    });

    it('T12: refuses a protocol list of unknown GUIDs', async () => {
      const answer = await send(bed.handler, {
        headers: createHeaders('{11111111-1111-1111-1111-111111111111}'),
      });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T13: refuses Create-Session with a body', async () => {
      const answer = await send(bed.handler, { headers: createHeaders(BITS_PROTOCOL), body: randomBytes(3) });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T14: refuses a destination URL that names a directory', async () => {
      const answer = await send(bed.handler, { path: '/up/', headers: createHeaders(BITS_PROTOCOL) });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T15 (D5): refuses with 403 E_ACCESSDENIED when the destination exists and overwrites are off', async () => {
      await bed.uploads.putObject(KEY, Buffer.from('old'), {}, { overwrite: true });
      const answer = await send(bed.handler, { headers: createHeaders(BITS_PROTOCOL) });
      expectError(answer, 403, '0x80070005');
      expect(bed.uploads.uploads.size).toBe(0);
    });
  });

  describe('Fragment', () => {
    it('T19: stores a single-fragment file and acks with BITS-Received-Content-Range and no Reply-URL', async () => {
      const id = await createSession(bed.handler);
      const body = randomBytes(4892);
      const answer = await sendFragment(bed.handler, id, 0, body, 4892);
      expectAck(answer, 200);
      expect(answer.headers['bits-received-content-range']).toBe('4892');
      expect(answer.headers['bits-session-id']).toBe(id);
      expect(answer.headers['bits-reply-url']).toBeUndefined();
      expectAck(await sendPacket(bed.handler, 'Close-Session', id), 200);
      expect(sha256(bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(body));
    });

    it('T20: three sequential fragments ack 100, 200, 300 and the file is their concatenation', async () => {
      const id = await createSession(bed.handler);
      const file = randomBytes(300);
      const acks: Array<string | undefined> = [];
      for (const first of [0, 100, 200]) {
        const answer = await sendFragment(bed.handler, id, first, file.subarray(first, first + 100), 300);
        acks.push(answer.headers['bits-received-content-range']);
      }
      expect(acks).toEqual(['100', '200', '300']);
      await sendPacket(bed.handler, 'Close-Session', id);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
    });

    it('T21: answers 416 with the expected offset when a fragment starts past it, writing nothing', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(100), 300);
      const writes = bed.uploads.bytesWritten;
      const answer = await sendFragment(bed.handler, id, 200, randomBytes(100), 300);
      expectAck(answer, 416);
      expectNoError(answer);
      expect(answer.headers['bits-received-content-range']).toBe('100');
      expect(bed.uploads.bytesWritten).toBe(writes);
    });

    it('T22: keeps only the new bytes of an overlapping fragment', async () => {
      const id = await createSession(bed.handler);
      const file = randomBytes(300);
      await sendFragment(bed.handler, id, 0, file.subarray(0, 100), 300);
      const overlap = Buffer.concat([Buffer.alloc(50, 0xee), file.subarray(100, 150)]);
      const answer = await sendFragment(bed.handler, id, 50, overlap, 300);
      expectAck(answer, 200);
      expect(answer.headers['bits-received-content-range']).toBe('150');
      await sendFragment(bed.handler, id, 150, file.subarray(150), 300);
      await sendPacket(bed.handler, 'Close-Session', id);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
    });

    it('T23: acks a replayed fragment (lost ack) with 200 and the current offset, writing nothing', async () => {
      const id = await createSession(bed.handler);
      const body = randomBytes(100);
      await sendFragment(bed.handler, id, 0, body, 300);
      const writes = bed.uploads.bytesWritten;
      const answer = await sendFragment(bed.handler, id, 0, body, 300);
      expectAck(answer, 200);
      expect(answer.headers['bits-received-content-range']).toBe('100');
      expect(bed.uploads.bytesWritten).toBe(writes);
    });

    it('T24: refuses a Content-Range whose length differs from Content-Length', async () => {
      const id = await createSession(bed.handler);
      const answer = await sendFragment(bed.handler, id, 0, randomBytes(50), 300, {
        headers: { 'Content-Range': 'bytes 0-99/300' },
      });
      expectError(answer, 400, E_INVALIDARG);
    });

    it.each([
      ['missing', undefined],
      ['not numeric', 'bytes abc'],
      ['first after last', 'bytes 10-5/300'],
    ])('T25: refuses a %s Content-Range with 400 E_INVALIDARG', async (_, range) => {
      const id = await createSession(bed.handler);
      const answer = await sendFragment(bed.handler, id, 0, randomBytes(6), 300, {
        headers: { 'Content-Range': range },
      });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T26: refuses a fragment whose total differs from the first fragment', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(100), 300);
      expectError(await sendFragment(bed.handler, id, 100, randomBytes(100), 400), 400, E_INVALIDARG);
    });

    it('T27: refuses a range that ends at or beyond the total', async () => {
      const id = await createSession(bed.handler);
      expectError(await sendFragment(bed.handler, id, 250, randomBytes(100), 300), 400, E_INVALIDARG);
    });

    it('T28: answers 500 BG_E_SESSION_NOT_FOUND for an unknown session id', async () => {
      const answer = await sendFragment(
        bed.handler,
        '{00000000-0000-0000-0000-000000000999}',
        0,
        randomBytes(9),
        9,
      );
      expectError(answer, 500, '0x8020001F');
    });

    it('T29: refuses a fragment without BITS-Session-Id', async () => {
      const answer = await send(bed.handler, {
        headers: { 'BITS-Packet-Type': 'Fragment', 'Content-Range': 'bytes 0-9/10' },
        body: randomBytes(10),
      });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T30: answers 413 above the maximum fragment size, keeps the session, and accepts a smaller retry', async () => {
      const id = await createSession(bed.handler);
      const file = randomBytes(100 * 1024);
      const tooBig = await sendFragment(bed.handler, id, 0, file, file.length);
      expectError(tooBig, 413, '0x80200020');
      const smaller = await sendFragment(bed.handler, id, 0, file.subarray(0, 32 * 1024), file.length);
      expectAck(smaller, 200);
      expect(smaller.headers['bits-received-content-range']).toBe(String(32 * 1024));
    });

    it('T31: answers 500 BG_E_TOO_LARGE when the first fragment declares a total above the maximum', async () => {
      const id = await createSession(bed.handler);
      expectError(
        await sendFragment(bed.handler, id, 0, randomBytes(10), 1024 * 1024 + 1),
        500,
        '0x80200020',
      );
    });

    it('T32: refuses Content-Encoding other than identity', async () => {
      const id = await createSession(bed.handler);
      const answer = await sendFragment(bed.handler, id, 0, randomBytes(10), 10, {
        headers: { 'Content-Encoding': 'gzip' },
      });
      expectError(answer, 400, E_INVALIDARG);
    });

    it('T33: refuses a header value over 4 KB', async () => {
      const id = await createSession(bed.handler);
      const answer = await sendFragment(bed.handler, id, 0, randomBytes(10), 10, {
        headers: { 'Content-Name': 'x'.repeat(4097) },
      });
      expectError(answer, 400, E_INVALIDARG);
    });
  });

  describe('Close-Session and Cancel-Session', () => {
    it('T34: closes a complete upload, stores the exact bytes, and later fragments get session-not-found', async () => {
      const id = await createSession(bed.handler);
      const body = randomBytes(1000);
      await sendFragment(bed.handler, id, 0, body, 1000);
      const answer = await sendPacket(bed.handler, 'Close-Session', id);
      expectAck(answer, 200);
      expect(answer.headers['bits-session-id']).toBe(id);
      expect(sha256(bed.uploads.objects.get(KEY)?.body ?? Buffer.alloc(0))).toBe(sha256(body));
      expectError(await sendFragment(bed.handler, id, 0, body, 1000), 500, '0x8020001F');
    });

    it('T35: answers Close-Session for an unknown id with BG_E_SESSION_NOT_FOUND', async () => {
      const answer = await sendPacket(bed.handler, 'Close-Session', '{00000000-0000-0000-0000-000000000999}');
      expectError(answer, 500, '0x8020001F');
    });

    it('T36: refuses Close-Session with a body', async () => {
      const id = await createSession(bed.handler);
      expectError(
        await sendPacket(bed.handler, 'Close-Session', id, { body: randomBytes(4) }),
        400,
        E_INVALIDARG,
      );
    });

    it('T37 (D9): refuses to close an incomplete upload, stores nothing and discards the session', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(100), 300);
      expectError(await sendPacket(bed.handler, 'Close-Session', id), 400, E_INVALIDARG);
      expect(bed.uploads.objects.has(KEY)).toBe(false);
      expect(bed.uploads.uploads.size).toBe(0);
      expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
      expectError(await sendFragment(bed.handler, id, 100, randomBytes(100), 300), 500, '0x8020001F');
    });

    it('T37b (D9): Create-Session then Close-Session with no fragment stores an empty object', async () => {
      const id = await createSession(bed.handler);
      expectAck(await sendPacket(bed.handler, 'Close-Session', id), 200);
      expect(bed.uploads.objects.get(KEY)?.body.length).toBe(0);
      expect(bed.uploads.uploads.size).toBe(0);
    });

    it('T38: cancels mid-upload: 200 with the session id, staging deleted, destination untouched', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(100), 300);
      expect(bed.uploads.keysUnder('bits-staging/').length).toBe(1);
      const answer = await sendPacket(bed.handler, 'Cancel-Session', id);
      expectAck(answer, 200);
      expect(answer.headers['bits-session-id']).toBe(id);
      expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
      expect(bed.uploads.uploads.size).toBe(0);
      expect(bed.uploads.objects.has(KEY)).toBe(false);
      expectError(await sendFragment(bed.handler, id, 100, randomBytes(100), 300), 500, '0x8020001F');
      expectAck(await sendPacket(bed.handler, 'Cancel-Session', id), 200);
    });

    it('T39: acks a repeated Close-Session on a closed session again (lost ack)', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(10), 10);
      expectAck(await sendPacket(bed.handler, 'Close-Session', id), 200);
      const again = await sendPacket(bed.handler, 'Close-Session', id);
      expectAck(again, 200);
      expect(again.headers['bits-session-id']).toBe(id);
    });

    it('T40: answers BG_E_SESSION_NOT_FOUND once the session has been idle past the timeout', async () => {
      const id = await createSession(bed.handler);
      await sendFragment(bed.handler, id, 0, randomBytes(100), 300);
      bed.clock.advance(bed.deps.config.sessionTimeoutSeconds + 1);
      expectError(await sendFragment(bed.handler, id, 100, randomBytes(100), 300), 500, '0x8020001F');
    });
  });
});
