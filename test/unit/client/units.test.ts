import fc from 'fast-check';
import { UsageError } from '../../../client/errors';
import { formatBytes, formatDuration, parseByteSize } from '../../../client/units';

describe('parseByteSize', () => {
  test.each([
    ['1048576', 1048576],
    ['1MiB', 1024 * 1024],
    ['512KiB', 512 * 1024],
    ['5KB', 5120],
    ['5k', 5120],
    ['1.5 MiB', 1.5 * 1024 * 1024],
    ['2G', 2 * 1024 ** 3],
    [' 7b ', 7],
  ])('reads %j as %d bytes (binary units, as Windows counts)', (raw, bytes) => {
    expect(parseByteSize(raw)).toBe(bytes);
  });

  test.each(['', 'MiB', '-1', '1 XB', '1.3', '0.5KiB5', '1e6'])('refuses %j with a usage error', (raw) => {
    expect(() => parseByteSize(raw)).toThrow(UsageError);
  });

  test('reads back what is written with any unit (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.constantFrom(['', 1], ['KiB', 1024], ['MiB', 1024 ** 2]),
        (n, [unit, size]) => {
          expect(parseByteSize(`${n}${unit}`)).toBe(n * (size as number));
        },
      ),
    );
  });
});

test('formats sizes and durations for people', () => {
  expect(formatBytes(512)).toBe('512 B');
  expect(formatBytes(5120)).toBe('5.0 KiB');
  expect(formatBytes(13 * 1024 * 1024)).toBe('13.0 MiB');
  expect(formatDuration(850)).toBe('850 ms');
  expect(formatDuration(12_345)).toBe('12.3 s');
  expect(formatDuration(245_000)).toBe('4 min 05 s');
});
