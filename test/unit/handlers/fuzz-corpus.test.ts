import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { makeTestBed } from '../../helpers/test-deps';

const E_FAIL = '0x80004005';
const PROTOCOL_500S = new Set(['0x8020001F', '0x80200020']);
const CASES = 10_000;
const MAX_FRAGMENT = 2048;
const MAX_UPLOAD = 64 * 1024;

/** Paths that try to escape the prefix, hide segments or stretch limits, plus ordinary ones. */
const pathArb = fc.oneof(
  fc.constantFrom(
    '/a.bin',
    '/dir/b.bin',
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/x',
    '/a/%2E%2E%2Fb',
    '/a%2fb',
    '/a%252e%252e/b',
    '/%C0%AE%C0%AE/x',
    '/e%CC%81',
    '/%E2%80%AE.exe',
    '/bits-staging/x',
    '/a/',
    '//x',
    `/${'k'.repeat(1016)}`,
    `/${'k'.repeat(1017)}`,
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((value) => `/${encodeURIComponent(value)}`),
);

/** Commands a client (or an attacker) can send, in any order. */
const commandArb = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), path: pathArb }),
  fc.record({
    kind: fc.constant('fragment' as const),
    session: fc.nat(3),
    start: fc.oneof(fc.constant(-1), fc.nat(MAX_UPLOAD + 10)),
    length: fc.oneof(fc.integer({ min: 0, max: MAX_FRAGMENT + 2 }), fc.constantFrom(1, MAX_FRAGMENT)),
    total: fc.oneof(fc.constantFrom(0, 1, 100, MAX_UPLOAD, MAX_UPLOAD + 1), fc.nat(MAX_UPLOAD + 10)),
  }),
  fc.record({
    kind: fc.constantFrom('close' as const, 'cancel' as const, 'ping' as const),
    session: fc.nat(3),
  }),
  fc.record({ kind: fc.constant('expire' as const), session: fc.nat(3) }),
);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** The file every session uploads: byte i is a function of i, so any range can be sent again. */
const fileByte = (offset: number) => (offset * 31 + 7) & 0xff;
const fileRange = (start: number, length: number) =>
  Buffer.from(Array.from({ length }, (_, i) => fileByte(start + i)));

describe('fuzz corpus: packet order, ranges, paths and sizes around every limit', () => {
  it(`never answers E_FAIL, never writes outside the prefixes, and stores only exact files (${CASES} cases)`, async () => {
    let cases = 0;
    let acks = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 12 }), async (commands) => {
        cases += 1;
        const bed = makeTestBed({
          maxFragmentSize: String(MAX_FRAGMENT),
          maxUploadSize: String(MAX_UPLOAD),
          sessionTimeoutSeconds: '60',
        });
        const sessions: Array<{ id: string; total?: number }> = [];
        for (const command of commands) {
          const session =
            'session' in command ? sessions[command.session % Math.max(1, sessions.length)] : undefined;
          const sessionId = session?.id ?? '{00000000-0000-4000-8000-000000000000}';
          let answer: Awaited<ReturnType<typeof send>>;
          if (command.kind === 'expire') {
            bed.clock.advance(61);
            continue;
          } else if (command.kind === 'create') {
            answer = await send(bed.handler, {
              path: command.path,
              headers: { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL },
            });
            const id = answer.headers['bits-session-id'];
            if (answer.status === 200 && id) sessions.push({ id });
          } else if (command.kind === 'fragment') {
            const start =
              command.start < 0
                ? session
                  ? Number(bed.sessions.nextOffsetOf(session.id) ?? 0)
                  : 0
                : command.start;
            const body = fileRange(start, command.length);
            answer = await send(bed.handler, {
              body,
              headers: {
                'BITS-Packet-Type': 'Fragment',
                'BITS-Session-Id': sessionId,
                'Content-Range': `bytes ${start}-${start + command.length - 1}/${command.total}`,
              },
            });
          } else {
            const packet = { close: 'Close-Session', cancel: 'Cancel-Session', ping: 'Ping' }[command.kind];
            answer = await send(bed.handler, {
              headers: { 'BITS-Packet-Type': packet, 'BITS-Session-Id': sessionId },
            });
          }
          acks += 1;
          expect(answer.headers['bits-packet-type']).toBe('Ack');
          expect(answer.headers['bits-error-code']).not.toBe(E_FAIL);
          if (answer.status >= 500)
            expect(PROTOCOL_500S.has(answer.headers['bits-error-code'] ?? '')).toBe(true);
        }
        for (const [key, object] of bed.uploads.objects) {
          const staged = key.startsWith('bits-staging/');
          expect(staged || key.startsWith('uploads/')).toBe(true);
          if (!staged) expect(sha256(object.body)).toBe(sha256(fileRange(0, object.body.length)));
        }
        for (const upload of bed.uploads.uploads.values())
          expect(upload.key.startsWith('uploads/')).toBe(true);
      }),
      { numRuns: CASES },
    );
    process.stdout.write(
      `fuzz corpus: ${cases} cases, ${acks} requests, no E_FAIL, no write outside the prefixes\n`,
    );
    expect(cases).toBe(CASES);
  }, 300_000);
});
