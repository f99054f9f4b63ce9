import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { HttpNotificationTarget } from '../../../lambda/adapters/http-notification-target';
import {
  inProcessInvoker,
  LambdaNotificationTarget,
  type LambdaStyleFunction,
  type NotificationEvent,
} from '../../../lambda/adapters/lambda-notification-target';
import { createSweeper, DEFAULT_SWEEPER_OPTIONS } from '../../../lambda/cleanup/sweeper';
import { createHandler } from '../../../lambda/create-handler';
import { discardSession } from '../../../lambda/handlers/session-access';
import type { HandlerDeps } from '../../../lambda/handlers/types';
import type {
  ApplicationAnswer,
  NotificationTarget,
  UploadNotice,
} from '../../../lambda/ports/notification-target';
import { createSession, sendFragment, sendPacket } from '../../helpers/bits-client-steps';
import { type Answer, type BitsEventInput, makeBitsEvent, send } from '../../helpers/events';
import { gate } from '../../helpers/gate';
import { MemoryObjectLinks } from '../../helpers/memory-object-links';
import { type ConfigOverrides, makeTestBed, type TestBed } from '../../helpers/test-deps';

const KEY = 'uploads/up/a.bin';
/** Everything a session's reply needs lives under its folder, one sub-folder per attempt. */
const replyFolderOf = (id: string) => `bits-replies/${id}/`;
const replyUrlOf = (id: string) => `BITS-Sessions/Replies/${id}/responsefile.bin`;
/** The download path a client resolves the relative Reply-URL to, braces encoded as Windows does. */
const downloadPath = (id: string) =>
  `/up/BITS-Sessions/Replies/${id.replace('{', '%7B').replace('}', '%7D')}/responsefile.bin`;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Behaviour = (notice: UploadNotice, signal: AbortSignal) => Promise<ApplicationAnswer>;

/** A server application whose answer each test scripts; it records every notification. */
class ScriptedApplication implements NotificationTarget {
  readonly calls: UploadNotice[] = [];
  constructor(public behave: Behaviour) {}
  notify(notice: UploadNotice, signal: AbortSignal): Promise<ApplicationAnswer> {
    this.calls.push(notice);
    return this.behave(notice, signal);
  }
}

const answer = (body: string | Buffer, status = 200, staticResponseUrl?: string): ApplicationAnswer => ({
  status,
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  ...(staticResponseUrl === undefined ? {} : { staticResponseUrl }),
});

interface ReplyBed extends TestBed {
  readonly app: ScriptedApplication;
}

function replyBed(
  overrides: ConfigOverrides = {},
  target?: NotificationTarget,
  extra: Partial<HandlerDeps> = {},
): ReplyBed {
  const bed = makeTestBed({
    notificationType: 'by-value',
    notificationUrl: 'https://app.test/notify',
    ...overrides,
  });
  const app = new ScriptedApplication(async () => answer('the reply'));
  const deps: HandlerDeps = {
    ...bed.deps,
    notifier: target ?? app,
    links: new MemoryObjectLinks('uploads'),
    ...extra,
  };
  return { ...bed, deps, handler: createHandler(deps), app };
}

/** An application that never answers, until the server aborts the call (then `aborted` is true). */
function silentApplication(bed: ReplyBed): { readonly aborted: boolean } {
  const state = { aborted: false };
  bed.app.behave = (_notice, signal) =>
    new Promise((_, reject) => {
      signal.addEventListener('abort', () => {
        state.aborted = true;
        reject(signal.reason);
      });
    });
  return state;
}

/** A bed whose application waits at a gate (`arrived` once called, `open()` to let it answer `reply`). */
function gatedReplyBed(reply: string): { bed: ReplyBed; app: ReturnType<typeof gate> } {
  const bed = replyBed();
  const app = gate();
  bed.app.behave = async () => {
    app.reached();
    await app.opened;
    return answer(reply);
  };
  return { bed, app };
}

/** A Lambda context whose remaining time runs out `ms` from now, in real time. */
function lambdaContext(ms: number): { readonly context: Context; readonly end: number } {
  const end = performance.now() + ms;
  const context: Context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'bits-upload',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bits-upload',
    memoryLimitInMB: '1024',
    awsRequestId: 'test',
    logGroupName: '/aws/lambda/bits-upload',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, end - performance.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  return { context, end };
}

/** One request as a Lambda invocation with `context` (send() invokes without one). */
async function invoke(bed: TestBed, input: BitsEventInput, context: Context): Promise<Answer> {
  const result = (await bed.handler(makeBitsEvent(input), context)) as APIGatewayProxyStructuredResultV2;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  return { status: result.statusCode ?? 0, headers, body: result.body ?? '' };
}

/** The final fragment of `file` (after uploadAllButLast with 1000-byte fragments) as an event. */
const lastFragment = (id: string, file: Buffer): BitsEventInput => {
  const first = Math.floor((file.length - 1) / 1000) * 1000;
  return {
    path: '/up/a.bin',
    body: file.subarray(first),
    headers: {
      'BITS-Packet-Type': 'Fragment',
      'BITS-Session-Id': id,
      'Content-Range': `bytes ${first}-${file.length - 1}/${file.length}`,
    },
  };
};

/** A loopback HTTP application that records each notification's headers and answers `reply`. */
async function loopbackApplication(reply: string) {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    request.on('end', () => response.writeHead(200).end(reply));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Create-Session and every fragment but the last; returns the id and the final fragment's sender. */
async function uploadAllButLast(bed: TestBed, file: Buffer, fragment = 1000) {
  const id = await createSession(bed.handler);
  const lastStart = Math.floor((file.length - 1) / fragment) * fragment;
  for (let first = 0; first < lastStart; first += fragment) {
    const ack = await sendFragment(
      bed.handler,
      id,
      first,
      file.subarray(first, first + fragment),
      file.length,
    );
    expect(ack.status).toBe(200);
    expect(ack.headers['bits-reply-url']).toBeUndefined();
  }
  const sendLast = () => sendFragment(bed.handler, id, lastStart, file.subarray(lastStart), file.length);
  return { id, sendLast };
}

async function upload(bed: TestBed, file: Buffer) {
  const { id, sendLast } = await uploadAllButLast(bed, file);
  return { id, ack: await sendLast(), sendLast };
}

const download = (
  bed: TestBed,
  id: string,
  headers: Record<string, string> = {},
  method = 'GET',
  principal?: string,
) => send(bed.handler, { method, path: downloadPath(id), headers, ...(principal ? { principal } : {}) });

const bodyOf = (response: Answer): Buffer => Buffer.from(response.body, 'base64');

/** An application error: the app's status, BG_E_HTTP_ERROR_<status>, context 0x7 (T42). */
function expectApplicationError(ack: Answer, status: number, hresult: string, context = '0x7'): void {
  expect(ack.status).toBe(status);
  expect(ack.headers['bits-packet-type']).toBe('Ack');
  expect(ack.headers['bits-error-code']).toBe(hresult);
  expect(ack.headers['bits-error']).toBe(hresult);
  expect(ack.headers['bits-error-context']).toBe(context);
  expect(ack.headers['bits-reply-url']).toBeUndefined();
}

describe('upload-reply: notification and reply (bits-protocol.md §7, T41–T44)', () => {
  const file = randomBytes(2500);

  describe('T41 by value', () => {
    it('acks the final fragment with the total and BITS-Reply-URL after the application saw the whole object', async () => {
      const bed = replyBed();
      let seenAtCall: string | undefined;
      let sentBody: Buffer | undefined;
      bed.app.behave = async (notice) => {
        const stored = bed.uploads.objects.get(KEY);
        seenAtCall = stored && sha256(stored.body);
        sentBody = await collect(await notice.openBody());
        return answer('reply bytes');
      };
      const { id, ack } = await upload(bed, file);
      expect(ack.status).toBe(200);
      expect(ack.headers['bits-received-content-range']).toBe(String(file.length));
      expect(ack.headers['bits-reply-url']).toBe(replyUrlOf(id));
      expect(ack.headers['bits-error-code']).toBeUndefined();
      expect(seenAtCall).toBe(sha256(file));
      expect(sentBody && sha256(sentBody)).toBe(sha256(file));
      const notice = bed.app.calls[0];
      expect(notice).toMatchObject({
        type: 'by-value',
        bucket: 'uploads',
        key: KEY,
        sessionId: id,
        principal: 'anonymous',
        size: file.length,
        originalRequestUrl: 'https://localhost/up/a.bin',
        dataFileName: `s3://uploads/${KEY}`,
      });
      // By value the reply is the answer's body: no link to write one (README).
      expect(notice?.responseFileName).toBeUndefined();
      expect(notice?.responseFileUrl).toBeUndefined();
      expect(notice?.metadata['bits-session-id']).toBe(id);
      const reply = await download(bed, id);
      expect(reply.status).toBe(200);
      expect(bodyOf(reply).toString()).toBe('reply bytes');
    });

    it('serves the reply with one byte range per GET: 206 and Content-Range, as the client resumes', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('0123456789');
      const { id } = await upload(bed, file);
      const cases: Array<[string, string, string]> = [
        ['bytes=2-5', '2345', 'bytes 2-5/10'],
        ['bytes=7-', '789', 'bytes 7-9/10'],
        ['bytes=-3', '789', 'bytes 7-9/10'],
        ['bytes=8-100', '89', 'bytes 8-9/10'],
      ];
      for (const [range, body, contentRange] of cases) {
        const reply = await download(bed, id, { Range: range });
        expect({ range, status: reply.status, body: bodyOf(reply).toString() }).toEqual({
          range,
          status: 206,
          body,
        });
        expect(reply.headers['content-range']).toBe(contentRange);
        expect(reply.headers['content-length']).toBe(String(body.length));
        expect(reply.headers['accept-ranges']).toBe('bytes');
      }
    });

    it('answers 416 with Content-Range bytes */size to a range past the reply, and 200 to one it cannot parse', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('0123456789');
      const { id } = await upload(bed, file);
      const past = await download(bed, id, { Range: 'bytes=10-' });
      expect(past.status).toBe(416);
      expect(past.headers['content-range']).toBe('bytes */10');
      expect(bodyOf(past).length).toBe(0);
      const garbled = await download(bed, id, { Range: 'lines=1-2' });
      expect(garbled.status).toBe(200);
      expect(bodyOf(garbled).toString()).toBe('0123456789');
      const twoRanges = await download(bed, id, { Range: 'bytes=0-1,4-5' });
      expect(twoRanges.status).toBe(200);
    });

    it('answers HEAD with the length, validators and no body; If-Range with another validator gets the whole reply', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('0123456789');
      const { id } = await upload(bed, file);
      const head = await download(bed, id, {}, 'HEAD');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('10');
      expect(head.headers['content-type']).toBe('application/octet-stream');
      expect(head.headers['accept-ranges']).toBe('bytes');
      expect(head.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
      expect(head.headers['last-modified']).toBe(new Date(bed.clock.ms).toUTCString());
      expect(head.body).toBe('');
      const etag = head.headers.etag ?? '';
      const matching = await download(bed, id, { Range: 'bytes=0-1', 'If-Range': etag });
      expect(matching.status).toBe(206);
      const stale = await download(bed, id, { Range: 'bytes=0-1', 'If-Range': '"other"' });
      expect(stale.status).toBe(200);
      expect(bodyOf(stale).toString()).toBe('0123456789');
    });

    it('finds the reply under any directory, braces plain or encoded, GUID in any case', async () => {
      const bed = replyBed();
      const { id } = await upload(bed, file);
      for (const path of [
        `/elsewhere/BITS-Sessions/Replies/${id}/responsefile.bin`,
        `/BITS-Sessions/Replies/${id.toLowerCase().replace('{', '%7b').replace('}', '%7d')}/responsefile.bin`,
      ]) {
        const reply = await send(bed.handler, { method: 'GET', path });
        expect({ path, status: reply.status }).toEqual({ path, status: 200 });
      }
    });
  });

  describe('T41 by reference', () => {
    it('gives the application names and links, and serves the reply object it wrote', async () => {
      const bed = replyBed({ notificationType: 'by-reference' });
      bed.app.behave = async (notice) => {
        // What a presigned PUT to responseFileUrl does: the application writes the reply itself.
        const key = (notice.responseFileName ?? '').replace('s3://uploads/', '');
        await bed.uploads.putObject(key, Buffer.from('written reply'), {}, { overwrite: true });
        return answer('');
      };
      const { id, ack } = await upload(bed, file);
      expect(ack.headers['bits-reply-url']).toBe(replyUrlOf(id));
      const notice = bed.app.calls[0];
      expect(notice?.type).toBe('by-reference');
      expect(notice?.dataFileUrl).toContain(`/uploads/${KEY}?method=GET`);
      // A key of this attempt alone, in the session's folder.
      expect(notice?.responseFileName?.startsWith(`s3://uploads/${replyFolderOf(id)}`)).toBe(true);
      expect(notice?.responseFileName).toMatch(/\/\d+\/incoming\.bin$/);
      expect(notice?.responseFileUrl).toContain(`/uploads/${encodeURI(replyFolderOf(id))}`);
      expect(notice?.responseFileUrl).toMatch(/\/incoming\.bin\?method=PUT/);
      expect(bodyOf(await download(bed, id)).toString()).toBe('written reply');
    });

    it('takes the answer body when the application wrote no reply object, and an empty reply when neither', async () => {
      const withBody = replyBed({ notificationType: 'by-reference' });
      withBody.app.behave = async () => answer('body reply');
      const first = await upload(withBody, file);
      expect(bodyOf(await download(withBody, first.id)).toString()).toBe('body reply');

      const empty = replyBed({ notificationType: 'by-reference' });
      empty.app.behave = async () => answer('');
      const second = await upload(empty, file);
      expect(second.ack.headers['bits-reply-url']).toBe(replyUrlOf(second.id));
      const reply = await download(empty, second.id);
      expect(reply.status).toBe(200);
      expect(reply.headers['content-length']).toBe('0');
      expect((await download(empty, second.id, { Range: 'bytes=0-' })).status).toBe(416);
    });
  });

  describe('Lambda-style function target', () => {
    const functionBed = (fn: LambdaStyleFunction, overrides: ConfigOverrides = {}) =>
      replyBed(
        { notificationUrl: '', notificationFunction: 'reply-app', ...overrides },
        new LambdaNotificationTarget(inProcessInvoker(fn)),
      );

    it('by value: the event carries the upload base64 and the identity; the answer body becomes the reply', async () => {
      const events: NotificationEvent[] = [];
      const bed = functionBed(async (event) => {
        events.push(event);
        return { body: Buffer.from('binary\u0000reply').toString('base64'), isBase64Encoded: true };
      });
      const { id, ack } = await upload(bed, file);
      expect(ack.headers['bits-reply-url']).toBe(replyUrlOf(id));
      expect(events).toHaveLength(1);
      expect(Buffer.from(events[0]?.body ?? '', 'base64').equals(file)).toBe(true);
      expect(events[0]).toMatchObject({
        type: 'by-value',
        key: KEY,
        sessionId: id,
        principal: 'anonymous',
        size: file.length,
      });
      expect(bodyOf(await download(bed, id)).toString()).toBe('binary\u0000reply');
      // By value the reply is the answer: the function gets no link to write one.
      expect(events[0]).not.toHaveProperty('responseFileUrl');
      expect(events[0]).not.toHaveProperty('responseFileName');
    });

    it('by reference: the event has links and no body', async () => {
      const events: NotificationEvent[] = [];
      const bed = functionBed(
        async (event) => {
          events.push(event);
          return null;
        },
        { notificationType: 'by-reference' },
      );
      const { ack } = await upload(bed, file);
      expect(ack.status).toBe(200);
      expect(events[0]?.body).toBeUndefined();
      expect(events[0]?.dataFileUrl).toContain('method=GET');
    });

    it('a function that throws is an application error: 500, BG_E_HTTP_ERROR_500, context 0x7', async () => {
      const bed = functionBed(async () => {
        throw new Error('boom');
      });
      const { ack } = await upload(bed, file);
      expectApplicationError(ack, 500, '0x801901F4');
    });

    it('a function status outside 2xx is relayed like an HTTP application status', async () => {
      const bed = functionBed(async () => ({ statusCode: 409 }));
      expectApplicationError((await upload(bed, file)).ack, 409, '0x80190199');
    });

    it('a malformed answer is no usable answer: 502, BG_E_HTTP_ERROR_502, context 0x7', async () => {
      const bed = functionBed(async () => ({ statusCode: 'fine' }) as never);
      expectApplicationError((await upload(bed, file)).ack, 502, '0x801901F6');
    });

    it('refuses a by-value upload to a function above 4 MiB at the first fragment with BG_E_TOO_LARGE', async () => {
      const bed = functionBed(async () => null);
      const id = await createSession(bed.handler);
      const ack = await sendFragment(bed.handler, id, 0, Buffer.alloc(10), 4 * 1024 * 1024 + 1);
      expectApplicationError(ack, 500, '0x80200020', '0x5');
      const fits = await sendFragment(
        bed.handler,
        await createSession(bed.handler, '/up/b.bin'),
        0,
        Buffer.alloc(10),
        4 * 1024 * 1024,
      );
      expect(fits.status).toBe(200);
    });
  });

  describe('T42 application errors reach the client with context 0x7', () => {
    it.each([
      [500, 500, '0x801901F4'],
      [404, 404, '0x80190194'],
      [403, 403, '0x80190193'],
      [503, 503, '0x801901F7'],
      // Statuses a BITS client would read as something else are relayed as 502.
      [401, 502, '0x80190191'],
      [413, 502, '0x8019019D'],
      [416, 502, '0x801901A0'],
      [302, 302, '0x8019012E'],
    ])('application status %i → ack %i with %s', async (appStatus, status, hresult) => {
      const bed = replyBed();
      bed.app.behave = async () => answer('', appStatus);
      const { id, ack } = await upload(bed, file);
      expectApplicationError(ack, status, hresult);
      // The object is complete at its key; no reply is held.
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
      expect((await download(bed, id)).status).toBe(404);
    });

    it('stores no error: the client retry notifies again, and a success then holds', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('', 503);
      const { sendLast } = await upload(bed, file);
      bed.app.behave = async () => answer('second time lucky');
      const retry = await sendLast();
      expect(retry.status).toBe(200);
      expect(bed.app.calls).toHaveLength(2);
      const again = await sendLast();
      expect(again.headers['bits-reply-url']).toBe(retry.headers['bits-reply-url']);
      expect(bed.app.calls).toHaveLength(2);
    });

    it('a reply above 4 MiB is a fatal application error: 501 (not retried, §5.3), BG_E_TOO_LARGE, context 0x7', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer(Buffer.alloc(4 * 1024 * 1024 + 1));
      expectApplicationError((await upload(bed, file)).ack, 501, '0x80200020');
    });
  });

  describe('T43 static reply URL', () => {
    it('sends the application URL as BITS-Reply-URL and holds nothing to download', async () => {
      const bed = replyBed();
      const url = 'http://x.example/y?reply=1';
      bed.app.behave = async () => answer('ignored', 200, url);
      const { id, ack } = await upload(bed, file);
      expect(ack.headers['bits-reply-url']).toBe(url);
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect((await download(bed, id)).status).toBe(404);
    });

    it.each([
      ['longer than 2,200 characters', `http://x.example/${'a'.repeat(2200)}`],
      ['relative', '/y'],
      ['with a line break', 'http://x.example/\r\nSet-Cookie: a=b'],
    ])('refuses a static URL %s with 400 E_INVALIDARG, context 0x7', async (_why, url) => {
      const bed = replyBed();
      bed.app.behave = async () => answer('', 200, url);
      expectApplicationError((await upload(bed, file)).ack, 400, '0x80070057');
    });
  });

  describe('T44 timeout', () => {
    it('answers 408 with 0x80070112 and context 0x7 when the application is silent past the timeout', async () => {
      const bed = replyBed({ notificationTimeoutSeconds: '1' });
      const silent = silentApplication(bed);
      const started = Date.now();
      const { ack, sendLast } = await upload(bed, file);
      expectApplicationError(ack, 408, '0x80070112');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(silent.aborted).toBe(true);
      bed.app.behave = async () => answer('late but here');
      const retry = await sendLast();
      expect(retry.status).toBe(200);
      expect(bed.app.calls).toHaveLength(2);
    }, 10_000);

    it('times out even when the target ignores the abort signal', async () => {
      const bed = replyBed({ notificationTimeoutSeconds: '1' });
      bed.app.behave = () => new Promise(() => undefined);
      const { id, sendLast } = await uploadAllButLast(bed, file);
      expectApplicationError(await sendLast(), 408, '0x80070112');
      expect((await download(bed, id)).status).toBe(404);
    }, 10_000);
  });

  describe('once per upload', () => {
    it('re-acks a retried final fragment with the same Reply-URL without calling the application again', async () => {
      const bed = replyBed();
      const { ack, sendLast } = await upload(bed, file);
      const retry = await sendLast();
      expect(retry.status).toBe(200);
      expect(retry.headers['bits-reply-url']).toBe(ack.headers['bits-reply-url']);
      expect(retry.headers['bits-received-content-range']).toBe(String(file.length));
      expect(bed.app.calls).toHaveLength(1);
    });

    it('acks any earlier fragment replayed after completion as the final one', async () => {
      const bed = replyBed();
      const { id, ack } = await upload(bed, file);
      const replay = await sendFragment(bed.handler, id, 0, file.subarray(0, 1000), file.length);
      expect(replay.status).toBe(200);
      expect(replay.headers['bits-received-content-range']).toBe(String(file.length));
      expect(replay.headers['bits-reply-url']).toBe(ack.headers['bits-reply-url']);
      expect(bed.app.calls).toHaveLength(1);
    });

    it('a retry that arrives while the application works waits for its answer: one call, one reply', async () => {
      const { bed, app } = gatedReplyBed('the one reply');
      const { sendLast } = await uploadAllButLast(bed, file);
      const first = sendLast();
      await app.arrived;
      const retry = sendLast();
      await new Promise((resolve) => setTimeout(resolve, 250));
      app.open();
      const [a, b] = await Promise.all([first, retry]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.headers['bits-reply-url']).toBe(a.headers['bits-reply-url']);
      expect(bed.app.calls).toHaveLength(1);
    });

    it('two final fragments sent at once call the application once and get the same ack', async () => {
      const bed = replyBed();
      const { sendLast } = await uploadAllButLast(bed, file);
      const answers = await Promise.all([sendLast(), sendLast(), sendLast()]);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(new Set(answers.map((a) => a.headers['bits-reply-url'])).size).toBe(1);
      expect(bed.app.calls).toHaveLength(1);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
    });

    it('takes over a claim whose holder died (crash before the answer was stored) once the claim expired', async () => {
      const bed = replyBed({ notificationTimeoutSeconds: '1' });
      const never = gate();
      bed.app.behave = async () => {
        never.reached();
        return new Promise(() => undefined);
      };
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const dead = sendLast();
      await never.arrived;
      // The holder is gone; its claim lasts at least 30 s.
      bed.clock.advance(31);
      bed.app.behave = async () => answer('after the crash');
      const retry = await sendLast();
      expect(retry.status).toBe(200);
      expect(bed.app.calls).toHaveLength(2);
      expect(bodyOf(await download(bed, id)).toString()).toBe('after the crash');
      // The stalled request's own timeout cannot undo the stored answer.
      expect((await dead).status).toBe(408);
      expect(bodyOf(await download(bed, id)).toString()).toBe('after the crash');
    });
  });

  describe('lifecycle of the reply', () => {
    it('Close-Session deletes the reply and closes; the object stays; the reply URL is gone', async () => {
      const bed = replyBed();
      const { id } = await upload(bed, file);
      expect(bed.uploads.keysUnder(replyFolderOf(id))).toHaveLength(1);
      const close = await sendPacket(bed.handler, 'Close-Session', id);
      expect(close.status).toBe(200);
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
      expect((await bed.sessions.getSession(id))?.state).toBe('closed');
      expect((await download(bed, id)).status).toBe(404);
      expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
      expect(bed.app.calls).toHaveLength(1);
    });

    it('Cancel-Session after the final fragment drops the reply only; the object stays (§2.5)', async () => {
      const bed = replyBed();
      const { id, sendLast } = await upload(bed, file);
      expect((await sendPacket(bed.handler, 'Cancel-Session', id)).status).toBe(200);
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
      expect((await download(bed, id)).status).toBe(404);
      expect((await sendLast()).headers['bits-error-code']).toBe('0x8020001F');
    });

    it('discarding the session deletes the reply and keeps the completed object', async () => {
      const bed = replyBed();
      const { id } = await upload(bed, file);
      const session = await bed.sessions.getSession(id);
      if (session === undefined) throw new Error('no session');
      await discardSession(bed.deps, session);
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
    });

    it('an undownloaded reply expires with the session and the sweeper removes it, keeping the object', async () => {
      const bed = replyBed({ sessionTimeoutSeconds: '3600' });
      const { id } = await upload(bed, file);
      bed.clock.advance(3600);
      expect((await download(bed, id)).status).toBe(404);
      bed.clock.advance(DEFAULT_SWEEPER_OPTIONS.graceSeconds + 1);
      const sweep = createSweeper(bed.deps, {
        async *pages() {
          yield [id];
        },
        async forget() {},
      });
      const report = await sweep();
      expect(report.discarded).toBe(1);
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
      expect((await bed.sessions.getSession(id))?.state).toBe('closed');
    });

    it('a Close-Session while the application works leaves no reply behind, and the fragment learns the session ended', async () => {
      const { bed, app } = gatedReplyBed('too late');
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const last = sendLast();
      await app.arrived;
      expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
      app.open();
      expect((await last).headers['bits-error-code']).toBe('0x8020001F');
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
    });
  });

  describe('names outside ASCII (HTTP application)', () => {
    it.each([
      [
        'outside Latin-1',
        '/up/%E6%97%A5%E6%9C%AC.bin',
        'uploads/up/日本.bin',
        'uploads/up/%E6%97%A5%E6%9C%AC.bin',
      ],
      [
        'in Latin-1',
        '/up/caf%C3%A9%20menu.bin',
        'uploads/up/café menu.bin',
        'uploads/up/caf%C3%A9%20menu.bin',
      ],
    ])(
      'a destination name %s reaches the application percent-encoded (UTF-8), and the fragment gets its reply',
      async (_why, path, key, encoded) => {
        const app = await loopbackApplication('the reply');
        try {
          const bed = replyBed(
            { notificationType: 'by-reference', notificationUrl: app.url },
            new HttpNotificationTarget(app.url),
          );
          const id = await createSession(bed.handler, path);
          const ack = await sendFragment(bed.handler, id, 0, file, file.length, { path });
          expect(ack.status).toBe(200);
          expect(ack.headers['bits-reply-url']).toBe(replyUrlOf(id));
          const headers = app.seen[0] ?? {};
          expect(headers['bits-request-datafile-name']).toBe(`s3://uploads/${encoded}`);
          expect(decodeURIComponent(String(headers['bits-request-datafile-name']))).toBe(
            `s3://uploads/${key}`,
          );
          expect(String(headers['bits-response-datafile-name'])).toMatch(
            /^s3:\/\/uploads\/bits-replies\/\{[-0-9A-F]+\}\/\d+\/incoming\.bin$/,
          );
          expect(bodyOf(await download(bed, id, {}, 'GET')).toString()).toBe('the reply');
        } finally {
          await app.stop();
        }
      },
    );

    it('a target that breaks unexpectedly is an application error: 502, context 0x7, never E_FAIL', async () => {
      const bed = replyBed();
      bed.app.behave = async () => {
        throw new TypeError('Invalid character in header content ["BITS-Request-DataFile-Name"]');
      };
      const { sendLast } = await uploadAllButLast(bed, file);
      expectApplicationError(await sendLast(), 502, '0x801901F6');
      // Not stored: the retry calls the application again.
      bed.app.behave = async () => answer('fine now');
      expect((await sendLast()).status).toBe(200);
      expect(bed.app.calls).toHaveLength(2);
    });
  });

  describe('a recorded reply never changes', () => {
    /** By reference: the application writes `bytes` through its link, as a presigned PUT would. */
    const writeThroughLink = (bed: TestBed, notice: UploadNotice, bytes: string) =>
      bed.uploads.putObject(
        (notice.responseFileName ?? '').replace('s3://uploads/', ''),
        Buffer.from(bytes),
        {},
        { overwrite: true },
      );

    it('a write through the link after the answer changes nothing: HEAD, GET and ranges serve the recorded bytes', async () => {
      const bed = replyBed({ notificationType: 'by-reference' });
      bed.app.behave = async (notice) => {
        await writeThroughLink(bed, notice, '0123456789');
        return answer('');
      };
      const { id } = await upload(bed, file);
      const notice = bed.app.calls[0];
      if (notice === undefined) throw new Error('not notified');
      // The link stays valid a little past the answer: the application writes again.
      await writeThroughLink(bed, notice, 'XYZ');
      const head = await download(bed, id, {}, 'HEAD');
      expect(head.headers['content-length']).toBe('10');
      const whole = await download(bed, id);
      expect(whole.headers['content-length']).toBe('10');
      expect(bodyOf(whole).toString()).toBe('0123456789');
      const tail = await download(bed, id, { Range: 'bytes=5-' });
      expect(tail.status).toBe(206);
      expect(tail.headers['content-range']).toBe('bytes 5-9/10');
      expect(bodyOf(tail).toString()).toBe('56789');
      expect(tail.headers.etag).toBe(head.headers.etag);
    });

    it('another object at the served key is never sent: GET and ranges answer 404, not 500 and not its bytes', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('0123456789');
      const { id } = await upload(bed, file);
      const [served] = bed.uploads.keysUnder(replyFolderOf(id));
      expect(served).toMatch(/\/\d+\/responsefile\.bin$/);
      await bed.uploads.putObject(served ?? '', Buffer.from('XYZ'), {}, { overwrite: true });
      expect((await download(bed, id)).status).toBe(404);
      expect((await download(bed, id, { Range: 'bytes=5-' })).status).toBe(404);
      expect(bodyOf(await download(bed, id, { Range: 'bytes=0-1' })).toString()).toBe('');
    });

    it('a late write through the link of a timed-out attempt does not become the reply of the next attempt', async () => {
      const bed = replyBed({ notificationType: 'by-reference', notificationTimeoutSeconds: '1' });
      const late = gate();
      bed.app.behave = async (notice) => {
        // Answers nothing in time, then writes its reply after the 408.
        setTimeout(() => void writeThroughLink(bed, notice, 'first, too late').then(late.reached), 1200);
        return new Promise(() => undefined);
      };
      const { id, sendLast } = await uploadAllButLast(bed, file);
      expectApplicationError(await sendLast(), 408, '0x80070112');
      await late.arrived;
      bed.app.behave = async () => answer('second');
      expect((await sendLast()).status).toBe(200);
      expect(bodyOf(await download(bed, id)).toString()).toBe('second');
    }, 10_000);

    it('a request that outlived its claim records nothing and leaves the reply of the one that took over', async () => {
      const bed = replyBed({ notificationType: 'by-reference' });
      const stalled = gate();
      bed.app.behave = async (notice) => {
        stalled.reached();
        await stalled.opened;
        await writeThroughLink(bed, notice, 'stale reply');
        return answer('');
      };
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const first = sendLast();
      await stalled.arrived;
      // Its claim ran out (it looks dead); a retry takes over and its answer is recorded.
      bed.clock.advance(31);
      bed.app.behave = async (notice) => {
        await writeThroughLink(bed, notice, 'winner');
        return answer('');
      };
      const retry = await sendLast();
      expect(retry.status).toBe(200);
      stalled.open();
      const outlived = await first;
      expect(outlived.status).toBe(200);
      expect(outlived.headers['bits-reply-url']).toBe(retry.headers['bits-reply-url']);
      expect(bodyOf(await download(bed, id)).toString()).toBe('winner');
      // Only the recorded attempt's objects are left.
      const recorded = (await bed.sessions.getSession(id))?.reply?.object?.key ?? '';
      const attempt = recorded.slice(0, recorded.lastIndexOf('/') + 1);
      expect(bed.uploads.keysUnder(replyFolderOf(id)).every((key) => key.startsWith(attempt))).toBe(true);
    });
  });

  describe('time: the request ends before the platform ends it', () => {
    it('the application gets what is left of the Lambda invocation, less the time to store its reply: 408 in time', async () => {
      const bed = replyBed({ notificationTimeoutSeconds: '10' });
      const silent = silentApplication(bed);
      const { id } = await uploadAllButLast(bed, file);
      const { context, end } = lambdaContext(5500);
      const ack = await invoke(bed, lastFragment(id, file), context);
      expectApplicationError(ack, 408, '0x80070112');
      expect(silent.aborted).toBe(true);
      // The answer left with time to spare before Lambda's own timeout would have cut it off.
      expect(end - performance.now()).toBeGreaterThan(1000);
    }, 15_000);

    it('the local server gives each request the function timeout as its budget', async () => {
      const bed = replyBed({ notificationTimeoutSeconds: '10' }, undefined, { requestBudgetMs: 5500 });
      bed.app.behave = () => new Promise(() => undefined);
      const { sendLast } = await uploadAllButLast(bed, file);
      const started = performance.now();
      expectApplicationError(await sendLast(), 408, '0x80070112');
      expect(performance.now() - started).toBeLessThan(4500);
    }, 15_000);

    it('with too little time left the application is not called: 503, and a retry with time calls it', async () => {
      const bed = replyBed();
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const ack = await invoke(bed, lastFragment(id, file), lambdaContext(3500).context);
      expect(ack.status).toBe(503);
      expect(ack.headers['bits-error-context']).toBe('0x5');
      expect(bed.app.calls).toHaveLength(0);
      expect((await sendLast()).status).toBe(200);
      expect(bed.app.calls).toHaveLength(1);
    });

    it('a request waiting for the answer of another one gives up before its own end: 503', async () => {
      const { bed, app } = gatedReplyBed('the one reply');
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const holder = sendLast();
      await app.arrived;
      const { context, end } = lambdaContext(4200);
      const waiter = await invoke(bed, lastFragment(id, file), context);
      expect(waiter.status).toBe(503);
      expect(end - performance.now()).toBeGreaterThan(500);
      app.open();
      expect((await holder).status).toBe(200);
      expect(bed.app.calls).toHaveLength(1);
    }, 15_000);
  });

  describe('the session outlives the call', () => {
    it('a session at its maximum age gets a whole session timeout once complete: the Reply-URL it is acked with downloads', async () => {
      const bed = replyBed({ maxSessionAgeSeconds: '60', sessionTimeoutSeconds: '3600' });
      bed.app.behave = async () => {
        // The application takes a while; the session's original expiry passes meanwhile.
        bed.clock.advance(5);
        return answer('reply');
      };
      const id = await createSession(bed.handler);
      bed.clock.advance(57);
      const completedAt = bed.clock.ms;
      const ack = await sendFragment(bed.handler, id, 0, file, file.length);
      expect(ack.status).toBe(200);
      expect(ack.headers['bits-reply-url']).toBe(replyUrlOf(id));
      expect((await bed.sessions.getSession(id))?.expiresAt).toBe(completedAt + 3600 * 1000);
      expect(bodyOf(await download(bed, id)).toString()).toBe('reply');
    });

    it('the sweeper leaves a session alone while its application works; the reply is then recorded and served', async () => {
      const { bed, app } = gatedReplyBed('after the sweep');
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const last = sendLast();
      await app.arrived;
      const sweep = createSweeper(bed.deps, {
        async *pages() {
          yield [id];
        },
        async forget() {},
      });
      const report = await sweep();
      expect(report).toMatchObject({ discarded: 0, skipped: 1 });
      app.open();
      expect((await last).status).toBe(200);
      expect(bodyOf(await download(bed, id)).toString()).toBe('after the sweep');
    });

    it('a Cancel-Session while the application works: its late reply write and answer leave nothing behind', async () => {
      const bed = replyBed({ notificationType: 'by-reference' });
      const app = gate();
      bed.app.behave = async (notice) => {
        app.reached();
        await app.opened;
        await bed.uploads.putObject(
          (notice.responseFileName ?? '').replace('s3://uploads/', ''),
          Buffer.from('late'),
          {},
          { overwrite: true },
        );
        return answer('');
      };
      const { id, sendLast } = await uploadAllButLast(bed, file);
      const last = sendLast();
      await app.arrived;
      expect((await sendPacket(bed.handler, 'Cancel-Session', id)).status).toBe(200);
      app.open();
      expect((await last).headers['bits-error-code']).toBe('0x8020001F');
      expect(bed.uploads.keysUnder('bits-replies/')).toEqual([]);
      expect(bed.uploads.objects.get(KEY)?.body.equals(file)).toBe(true);
      expect((await bed.sessions.getSession(id))?.state).toBe('cancelled');
    });
  });

  describe("the object notified is the session's own", () => {
    /** Another session completes the same key (overwrites on) right after this one did. */
    function replacedAfterComplete(bed: TestBed): void {
      const complete = bed.uploads.completeMultipartUpload.bind(bed.uploads);
      bed.uploads.completeMultipartUpload = async (upload, parts, options) => {
        await complete(upload, parts, options);
        await bed.uploads.putObject(
          upload.key,
          Buffer.from('theirs'),
          { 'bits-session-id': '{00000000-0000-4000-8000-000000000001}' },
          { overwrite: true },
        );
      };
    }

    it('another session completing the key before the notice: the application is not called, the upload has ended', async () => {
      const bed = replyBed({ allowOverwrites: 'true' });
      replacedAfterComplete(bed);
      const { id, ack } = await upload(bed, file);
      expect(ack.status).toBe(500);
      expect(ack.headers['bits-error-code']).toBe('0x8020001F');
      expect(bed.app.calls).toHaveLength(0);
      expect(bed.uploads.objects.get(KEY)?.body.toString()).toBe('theirs');
      expect((await bed.sessions.getSession(id))?.state).toBe('cancelled');
    });

    it('by value: an object replaced between the check and the read is never sent as ours', async () => {
      const bed = replyBed({ allowOverwrites: 'true' });
      let sent: Buffer | undefined;
      bed.app.behave = async (notice) => {
        await bed.uploads.putObject(
          KEY,
          Buffer.from('theirs'),
          { 'bits-session-id': '{other}' },
          {
            overwrite: true,
          },
        );
        sent = await collect(await notice.openBody());
        return answer('never');
      };
      const { ack } = await upload(bed, file);
      expect(ack.headers['bits-error-code']).toBe('0x8020001F');
      expect(sent).toBeUndefined();
    });
  });

  describe('edge cases', () => {
    it('a stray fragment on a 0-byte session a Close sealed notifies nothing', async () => {
      const bed = replyBed();
      const id = await createSession(bed.handler);
      const session = await bed.sessions.getSession(id);
      // A Close that sealed the empty session and died before completing it.
      await bed.sessions.finishSession(id, 'closing', session?.expiresAt ?? 0, { nextOffset: 0 });
      const ack = await sendFragment(bed.handler, id, 0, file, file.length);
      expect(ack.headers['bits-error-code']).toBe('0x8020001F');
      expect(ack.headers['bits-reply-url']).toBeUndefined();
      expect(bed.app.calls).toHaveLength(0);
    });

    it('serves over-long range numbers as RFC 9110 says: the end clamps, a long suffix is the whole reply', async () => {
      const bed = replyBed();
      bed.app.behave = async () => answer('0123456789');
      const { id } = await upload(bed, file);
      for (const range of ['bytes=0-99999999999999999999', 'bytes=-99999999999999999999']) {
        const reply = await download(bed, id, { Range: range });
        expect({ range, status: reply.status, contentRange: reply.headers['content-range'] }).toEqual({
          range,
          status: 206,
          contentRange: 'bytes 0-9/10',
        });
        expect(bodyOf(reply).toString()).toBe('0123456789');
      }
    });

    it('a function answer above the invoke payload limit is a fatal application error: 501, BG_E_TOO_LARGE', async () => {
      const oversized = async () => ({
        statusCode: 200,
        functionError: 'Unhandled',
        payload: Buffer.from(
          JSON.stringify({
            errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
            errorType: 'Function.ResponseSizeTooLarge',
          }),
        ),
      });
      const bed = replyBed(
        { notificationUrl: '', notificationFunction: 'reply-app' },
        new LambdaNotificationTarget(oversized),
      );
      expectApplicationError((await upload(bed, file)).ack, 501, '0x80200020');
    });
  });

  describe('who may download', () => {
    it('answers 404 to another principal, an unknown session and a session without a reply', async () => {
      const bed = replyBed();
      const id = await createSession(bed.handler);
      const ack = await sendFragment(bed.handler, id, 0, file, file.length);
      expect(ack.status).toBe(200);
      expect((await download(bed, id, {}, 'GET', 'mallory')).status).toBe(404);
      expect((await download(bed, id, {}, 'HEAD', 'mallory')).status).toBe(404);
      expect((await download(bed, '{00000000-0000-4000-8000-000000000000}')).status).toBe(404);
      const open = await createSession(bed.handler, '/up/b.bin');
      expect((await download(bed, open)).status).toBe(404);
    });

    it('keeps 405 for other GETs and POST-less methods', async () => {
      const bed = replyBed();
      const answerGet = await send(bed.handler, { method: 'GET', path: '/up/a.bin' });
      expect(answerGet.status).toBe(405);
      const put = await send(bed.handler, {
        method: 'PUT',
        path: downloadPath('{00000000-0000-4000-8000-000000000000}'),
      });
      expect(put.status).toBe(405);
    });
  });

  describe('plain uploads (notifications off)', () => {
    it('T19 unchanged: the final fragment carries no Reply-URL and nothing is held to download', async () => {
      const bed = makeTestBed();
      const id = await createSession(bed.handler);
      const ack = await sendFragment(bed.handler, id, 0, file, file.length);
      expect(ack.status).toBe(200);
      expect(ack.headers['bits-reply-url']).toBeUndefined();
      expect(bed.uploads.objects.has(KEY)).toBe(false);
      expect((await download(bed, id)).status).toBe(404);
      expect((await sendPacket(bed.handler, 'Close-Session', id)).status).toBe(200);
      expect(bed.uploads.requests.get('deleteObject')).toBeUndefined();
      expect(bed.uploads.requests.get('deleteReplyFolder')).toBeUndefined();
    });
  });
});
