import { appendFile, truncate, utimes } from 'node:fs/promises';
import { UsageError } from '../../../client/errors';
import { bufferSource, contentNameFor, openFileSource } from '../../../client/source';
import { scratchDir } from './servers';

let files: Awaited<ReturnType<typeof scratchDir>>;
beforeAll(async () => {
  files = await scratchDir();
});
afterAll(() => files.dispose());

test('Content-Name is the bare file name without the characters Windows forbids', () => {
  expect(contentNameFor('/tmp/dir/report.pdf')).toBe('report.pdf');
  expect(contentNameFor('a:b*c?"d<e>f|g.txt')).toBe('a_b_c__d_e_f_g.txt');
  expect(contentNameFor('résumé\u0001.txt')).toBe('r_sum__.txt');
  expect(contentNameFor(`${'x'.repeat(300)}.bin`)).toHaveLength(260);
  expect(contentNameFor('/')).toBe('upload.bin');
});

test('reads exactly the slices asked for', async () => {
  const { path, data } = await files.random('slices.bin', 10_000);
  const source = await openFileSource(path);
  try {
    expect(source.size).toBe(10_000);
    expect(source.name).toBe('slices.bin');
    expect((await source.read(0, 4096)).equals(data.subarray(0, 4096))).toBe(true);
    expect((await source.read(9000, 1000)).equals(data.subarray(9000))).toBe(true);
  } finally {
    await source.close();
  }
});

test.each([
  ['shrinks', (path: string) => truncate(path, 5000)],
  ['grows', (path: string) => appendFile(path, 'more')],
  ['is rewritten in place', (path: string) => utimes(path, new Date(), new Date(Date.now() + 5000))],
])(
  'refuses to go on when the file %s during the upload (BG_E_LOCAL_FILE_CHANGED)',
  async (_label, change) => {
    const { path } = await files.random('changing.bin', 10_000);
    const source = await openFileSource(path);
    try {
      await source.read(0, 4096);
      await change(path);
      await expect(source.read(4096, 4096)).rejects.toThrow(
        /changed during the upload.*BG_E_LOCAL_FILE_CHANGED 0x8020001D/,
      );
    } finally {
      await source.close();
    }
  },
);

test('a missing file or a directory is a usage error', async () => {
  await expect(openFileSource('/nonexistent/file.bin')).rejects.toThrow(UsageError);
  await expect(openFileSource(__dirname)).rejects.toThrow(/not a regular file/);
});

test('an in-memory source serves slices of its buffer', async () => {
  const source = bufferSource('dir/x.txt', Buffer.from('hello world'));
  expect(source).toMatchObject({ size: 11, name: 'x.txt' });
  expect((await source.read(6, 5)).toString()).toBe('world');
});
