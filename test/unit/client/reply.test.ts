import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../../client/errors';
import { checkReplyOptions, DEFAULT_REPLY_RANGE_SIZE, prepareReplyTarget } from '../../../client/reply';
import { scratchDir } from './servers';

/** The upload-reply options, refused before any packet when they cannot work. */

let files: Awaited<ReturnType<typeof scratchDir>>;

beforeAll(async () => {
  files = await scratchDir();
});
afterAll(() => files.dispose());

describe('checkReplyOptions', () => {
  test('fills in the default range size', () => {
    expect(checkReplyOptions({ file: 'r.bin' })).toEqual({
      file: 'r.bin',
      rangeSize: DEFAULT_REPLY_RANGE_SIZE,
    });
  });

  test.each([
    ['an empty path', { file: ' ' }],
    ['a range of 0 bytes', { file: 'r.bin', rangeSize: 0 }],
    ['a fractional range', { file: 'r.bin', rangeSize: 1.5 }],
    ['a range above 1 GiB', { file: 'r.bin', rangeSize: 2 ** 31 }],
  ])('refuses %s', (_label, options) => {
    expect(() => checkReplyOptions(options)).toThrow(UsageError);
  });
});

describe('prepareReplyTarget', () => {
  test('gives the absolute path of a file in an existing directory', async () => {
    const file = await files.file('existing.bin', Buffer.from('x'));
    const target = path.join(path.dirname(file), 'reply.bin');

    await expect(prepareReplyTarget(path.relative(process.cwd(), target))).resolves.toBe(target);
  });

  test('refuses a missing directory and a path that is a directory', async () => {
    const file = await files.file('dir-probe.bin', Buffer.from('x'));
    const dir = path.join(path.dirname(file), 'sub');
    await mkdir(dir);

    await expect(prepareReplyTarget(path.join(dir, 'missing', 'r.bin'))).rejects.toThrow(/no directory/);
    await expect(prepareReplyTarget(dir)).rejects.toThrow(/it is a directory/);
  });
});
