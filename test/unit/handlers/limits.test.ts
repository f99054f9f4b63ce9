import { randomBytes } from 'node:crypto';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { BITS_PROTOCOL, send } from '../../helpers/events';
import { makeTestBed } from '../../helpers/test-deps';

const createHeaders = { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL };

describe('configurable limits at their boundaries', () => {
  it('accepts a fragment of exactly the maximum size and refuses one byte more with 413', async () => {
    const bed = makeTestBed({ maxFragmentSize: '1000' });
    const id = await createSession(bed.handler);
    const file = randomBytes(3000);
    expect((await sendFragment(bed.handler, id, 0, file.subarray(0, 1001), 3000)).status).toBe(413);
    expect((await sendFragment(bed.handler, id, 0, file.subarray(0, 1000), 3000)).status).toBe(200);
  });

  it('accepts a declared total of exactly the maximum upload size and refuses one byte more', async () => {
    const bed = makeTestBed({ maxUploadSize: '5000' });
    const id = await createSession(bed.handler);
    const over = await sendFragment(bed.handler, id, 0, randomBytes(10), 5001);
    expect([over.status, over.headers['bits-error-code']]).toEqual([500, '0x80200020']);
    expect((await sendFragment(bed.handler, id, 0, randomBytes(10), 5000)).status).toBe(200);
  });

  it('accepts a header value of 4096 bytes and refuses 4097', async () => {
    const bed = makeTestBed();
    const ping = (name: string) =>
      send(bed.handler, { headers: { 'BITS-Packet-Type': 'Ping', 'Content-Name': name } });
    expect((await ping('x'.repeat(4096))).status).toBe(200);
    expect((await ping('x'.repeat(4097))).status).toBe(400);
  });

  it('accepts an object key of 1024 bytes and refuses 1025', async () => {
    const bed = makeTestBed({ keyPrefix: 'uploads/' });
    const name = (length: number) => `/${'k'.repeat(length - 'uploads/'.length)}`;
    expect((await send(bed.handler, { path: name(1024), headers: createHeaders })).status).toBe(200);
    expect((await send(bed.handler, { path: name(1025), headers: createHeaders })).status).toBe(400);
  });

  it('keeps a session alive until its timeout after the last progress, and not a millisecond longer', async () => {
    const bed = makeTestBed({ sessionTimeoutSeconds: '600' });
    const id = await createSession(bed.handler);
    bed.clock.advance(599);
    expect((await sendFragment(bed.handler, id, 0, randomBytes(10), 30)).status).toBe(200);
    bed.clock.advance(599.999);
    expect((await sendFragment(bed.handler, id, 10, randomBytes(10), 30)).status).toBe(200);
    bed.clock.advance(600);
    const expired = await sendFragment(bed.handler, id, 20, randomBytes(10), 30);
    expect([expired.status, expired.headers['bits-error-code']]).toEqual([500, '0x8020001F']);
  });

  it('replaces an existing destination when overwrites are allowed', async () => {
    const bed = makeTestBed({ allowOverwrites: 'true' });
    await bed.uploads.putObject('uploads/up/a.bin', Buffer.from('old'), {}, { overwrite: true });
    const id = await createSession(bed.handler);
    const body = randomBytes(20);
    await sendFragment(bed.handler, id, 0, body, 20);
    expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
    expect(bed.uploads.objects.get('uploads/up/a.bin')?.body.equals(body)).toBe(true);
  });

  it('refuses at Close with 403 when the destination appeared during the upload, leaving it untouched', async () => {
    const bed = makeTestBed();
    const id = await createSession(bed.handler);
    await sendFragment(bed.handler, id, 0, randomBytes(20), 20);
    await bed.uploads.putObject('uploads/up/a.bin', Buffer.from('theirs'), {}, { overwrite: true });
    const close = await sendPacket(bed.handler, 'Close-Session', id);
    expect([close.status, close.headers['bits-error-code']]).toEqual([403, '0x80070005']);
    expect(bed.uploads.objects.get('uploads/up/a.bin')?.body.toString()).toBe('theirs');
    expect(bed.uploads.uploads.size).toBe(0);
    expect(bed.uploads.keysUnder('bits-staging/')).toEqual([]);
  });
});
