import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createSession, sendFragment } from '../../helpers/bits-client-steps';
import { BITS_PROTOCOL, type BitsEventInput, send } from '../../helpers/events';
import { makeTestBed } from '../../helpers/test-deps';

const E_FAIL = '0x80004005';

/** 500 is only ever BG_E_SESSION_NOT_FOUND or BG_E_TOO_LARGE, the protocol's own 500s. */
const PROTOCOL_500S = new Set(['0x8020001F', '0x80200020']);

const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
const text = fc.string({ unit: 'binary', maxLength: 80 });

describe('hostile input (design.md invariant 3)', () => {
  it('never answers 500 E_FAIL or throws, whatever the headers and bodies', async () => {
    const bed = makeTestBed({ maxFragmentSize: String(4096), maxUploadSize: String(1 << 20) });
    const live = await createSession(bed.handler);
    await sendFragment(bed.handler, live, 0, randomBytes(10), 1000);

    const rangeValue = fc.oneof(
      fc.tuple(fc.nat(2000), fc.nat(2000), fc.nat(3000)).map(([a, b, t]) => `bytes ${a}-${b}/${t}`),
      fc.constantFrom('bytes 10-19/1000', 'bytes 0-9/1000', 'bytes */1000', 'bytes=0-9/10', 'bytes -1-5/10'),
      text,
    );
    const sessionValue = fc.oneof(
      fc.constant(live),
      fc.constant(live.toLowerCase()),
      fc.uuid().map((guid) => `{${guid}}`),
      text,
    );
    const event = fc.record(
      {
        method: fc.constantFrom('BITS_POST', 'POST', 'GET', 'bits_post', 'PUT', ''),
        path: fc.oneof(
          fc.constantFrom(
            '/up/a.bin',
            '/',
            '/up/',
            '/a/../b',
            '/%2e%2e/x',
            '/a%2Fb',
            '/%ZZ',
            '/a\\b',
            '/%00',
          ),
          text.map((value) => `/${value}`),
        ),
        headers: fc.record(
          {
            'BITS-Packet-Type': maybe(
              fc.oneof(
                fc.constantFrom('Ping', 'Create-Session', 'Fragment', 'Close-Session', 'Cancel-Session'),
                text,
              ),
            ),
            'BITS-Session-Id': maybe(sessionValue),
            'BITS-Supported-Protocols': maybe(fc.oneof(fc.constant(BITS_PROTOCOL), text)),
            'Content-Range': maybe(rangeValue),
            'Content-Length': maybe(fc.oneof(fc.nat(5000).map(String), text)),
            'Content-Encoding': maybe(fc.constantFrom('identity', 'gzip', '')),
            'X-Http-Method-Override': maybe(fc.constantFrom('BITS_POST', 'GET')),
            'Content-Name': maybe(fc.oneof(text, fc.constant('x'.repeat(5000)))),
          },
          { requiredKeys: [] },
        ),
        body: maybe(fc.uint8Array({ maxLength: 5000 })),
      },
      { requiredKeys: [] },
    );

    let cases = 0;
    await fc.assert(
      fc.asyncProperty(event, async (input) => {
        cases += 1;
        const answer = await send(bed.handler, input as BitsEventInput);
        expect(answer.headers['bits-packet-type']).toBe('Ack');
        expect(answer.headers['bits-error-code']).not.toBe(E_FAIL);
        if (answer.status >= 500)
          expect(PROTOCOL_500S.has(answer.headers['bits-error-code'] ?? '')).toBe(true);
      }),
      { numRuns: 2000 },
    );
    expect(cases).toBe(2000);
  }, 60_000);

  it('answers 500 E_FAIL without echoing the cause when a store fails unexpectedly', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    bed.uploads.putStagedChunk = () => Promise.reject(new Error('secret internal detail'));
    const answer = await sendFragment(bed.handler, id, 0, randomBytes(10), 100);
    expect(answer.status).toBe(500);
    expect(answer.headers['bits-error-code']).toBe(E_FAIL);
    expect(JSON.stringify(answer)).not.toContain('secret');
  });
});
