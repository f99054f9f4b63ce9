import fc from 'fast-check';
import {
  applicationReplyKey,
  attemptFolder,
  isSendableReplyUrl,
  originalRequestUrl,
  parseRange,
  parseReplyPath,
  replyFolder,
  replyUrlFor,
  servedReplyKey,
} from '../../../lambda/protocol/reply';

const ID = '{C85B4E0A-9EB9-4114-BFA4-8A43B4710091}';

describe('reply URL shapes', () => {
  it('acks the IIS-shaped relative URL with forward slashes and stores under the session folder, per attempt', () => {
    expect(replyUrlFor(ID)).toBe(`BITS-Sessions/Replies/${ID}/responsefile.bin`);
    expect(replyFolder('bits-replies/', ID)).toBe(`bits-replies/${ID}/`);
    expect(attemptFolder('bits-replies/', ID, 1795392030000)).toBe(`bits-replies/${ID}/1795392030000/`);
    expect(applicationReplyKey('bits-replies/', ID, 7)).toBe(`bits-replies/${ID}/7/incoming.bin`);
    expect(servedReplyKey('bits-replies/', ID, 7)).toBe(`bits-replies/${ID}/7/responsefile.bin`);
  });

  it.each([
    [
      '/upload-ref-isapi-WebFarm/BITS-Sessions/Replies/%7BC85B4E0A-9EB9-4114-BFA4-8A43B4710091%7D/responsefile.bin',
      ID,
    ],
    [`/a/b/BITS-Sessions/Replies/${ID}/responsefile.bin`, ID],
    [`/BITS-Sessions/Replies/${ID.toLowerCase()}/responsefile.bin`, ID],
    ['/bits-sessions/replies/%7bc85b4e0a-9eb9-4114-bfa4-8a43b4710091%7d/RESPONSEFILE.BIN', ID],
    [`/BITS-Sessions/Replies/${ID}/responsefile.bin/more`, undefined],
    [`/BITS-Sessions/Replies/${ID}/requestfile.bin`, undefined],
    ['/BITS-Sessions/Replies/{not-a-guid}/responsefile.bin', undefined],
    [`BITS-Sessions/Replies/${ID}/responsefile.bin`, undefined],
  ])('reads %s as %s', (path, expected) => {
    expect(parseReplyPath(path)).toBe(expected);
  });

  it('names the client URL for the application from the front scheme and the Host header', () => {
    expect(originalRequestUrl({ host: 'FRANKCAO8', 'x-forwarded-proto': 'http' }, '/up/a.bin')).toBe(
      'http://FRANKCAO8/up/a.bin',
    );
    expect(originalRequestUrl({ host: 'bits.example' }, '/a')).toBe('https://bits.example/a');
  });

  it.each([
    ['http://x/y', true],
    ['https://x.example/r?a=1', true],
    [`https://x/${'a'.repeat(2200 - 'https://x/'.length)}`, true],
    [`https://x/${'a'.repeat(2201 - 'https://x/'.length)}`, false],
    ['/relative', false],
    ['ftp://x/y', false],
    ['https://x/a b', false],
    ['https://x/\r\nX: y', false],
  ])('static reply URL %s sendable: %s', (url, sendable) => {
    expect(isSendableReplyUrl(url)).toBe(sendable);
  });
});

describe('parseRange (one byte range, RFC 9110 §14)', () => {
  it.each([
    [undefined, 10, { kind: 'whole' }],
    ['bytes=0-9976', 10240, { kind: 'range', range: { start: 0, end: 9976 } }],
    ['bytes=5-', 10, { kind: 'range', range: { start: 5, end: 9 } }],
    ['bytes=-3', 10, { kind: 'range', range: { start: 7, end: 9 } }],
    ['bytes=-30', 10, { kind: 'range', range: { start: 0, end: 9 } }],
    ['BYTES = 1 - 2', 10, { kind: 'range', range: { start: 1, end: 2 } }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=5-3', 10, { kind: 'whole' }],
    ['bytes=0-1,3-4', 10, { kind: 'whole' }],
    ['items=0-1', 10, { kind: 'whole' }],
    ['bytes=-', 10, { kind: 'whole' }],
    ['bytes=9999999999999999-', 10, { kind: 'unsatisfiable' }],
    // Numbers of any length (RFC 9110 §14.1.2): a last position past the end means the end, a
    // suffix longer than the reply means all of it, leading zeros are just zeros.
    ['bytes=0-99999999999999999999', 10, { kind: 'range', range: { start: 0, end: 9 } }],
    ['bytes=-99999999999999999999', 10, { kind: 'range', range: { start: 0, end: 9 } }],
    ['bytes=0000000000000000001-2', 10, { kind: 'range', range: { start: 1, end: 2 } }],
    ['bytes=99999999999999999999-', 10, { kind: 'unsatisfiable' }],
  ])('%s of %i bytes → %j', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it('any satisfiable range lies inside the reply and any range past it is unsatisfiable', () => {
    fc.assert(
      fc.property(
        fc.nat(5000),
        fc.nat(6000),
        fc.option(fc.nat(6000), { nil: undefined }),
        (size, first, last) => {
          const header = `bytes=${first}-${last ?? ''}`;
          const result = parseRange(header, size);
          if (last !== undefined && last < first) return expect(result.kind).toBe('whole');
          if (first >= size) return expect(result.kind).toBe('unsatisfiable');
          expect(result).toEqual({
            kind: 'range',
            range: { start: first, end: Math.min(last ?? size - 1, size - 1) },
          });
        },
      ),
    );
  });
});
