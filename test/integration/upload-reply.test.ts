import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { NotificationEvent } from '../../lambda/adapters/lambda-notification-target';
import type { LocalServer, LocalServerOptions } from '../../local/local-server';
import {
  EXAMPLE_FUNCTION_NAME,
  type ExampleApplication,
  exampleNotificationFunction,
  exampleReply,
  startExampleApplication,
} from '../../local/notify-example';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import {
  capturedSessionId,
  differencesFromCapture,
  type FixtureExchange,
  fixtureBody,
  header,
  loadCapture,
  requestLine,
  statusOf,
} from '../helpers/fixtures';
import { startTestServer } from '../helpers/local-server-env';
import { RawConnection, type RawResponse, rawRequest } from '../helpers/raw-http-client';
import type { ConfigOverrides } from '../helpers/test-deps';

const BITS_PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** RX-2's reply was 10,240 bytes; the client asked for bytes 0-9976 of it. */
const RX2_REPLY = fixtureBody(10240).map((byte) => byte ^ 0x5a);

describe('upload-reply over the local server (raw TCP)', () => {
  let env: AwsTestEnv;
  const servers: LocalServer[] = [];
  const applications: ExampleApplication[] = [];

  beforeAll(async () => {
    env = await createAwsTestEnv('upload-reply');
  });

  afterAll(async () => {
    await Promise.all([...servers.map((server) => server.stop()), ...applications.map((app) => app.stop())]);
    await env.destroy();
  });

  async function server(overrides: ConfigOverrides, extra: Partial<LocalServerOptions> = {}) {
    const started = await startTestServer(env, overrides, extra);
    servers.push(started);
    return started;
  }

  async function application(
    reply?: (upload: { sessionId: string; size: number; sha256: string }) => Buffer,
  ) {
    const app = await startExampleApplication(reply === undefined ? {} : { reply });
    applications.push(app);
    return app;
  }

  /** Every key under a session's reply folder (all attempts). */
  async function replyKeys(id: string): Promise<string[]> {
    const listed = await env.clients.s3.send(
      new ListObjectsV2Command({ Bucket: env.bucketName, Prefix: `bits-replies/${id}/` }),
    );
    return (listed.Contents ?? []).map((object) => object.Key ?? '');
  }

  async function getObject(key: string): Promise<Buffer | undefined> {
    try {
      const object = await env.clients.s3.send(new GetObjectCommand({ Bucket: env.bucketName, Key: key }));
      return Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    } catch {
      return undefined;
    }
  }

  /** One request on a keep-alive connection, waiting for its answer. */
  async function exchange(connection: RawConnection, request: Buffer): Promise<RawResponse> {
    const before = connection.parsed.responses.length;
    connection.write(request);
    const responses = await connection.responses(before + 1, 15_000);
    const answer = responses[before];
    if (answer === undefined) throw new Error('connection closed without an answer');
    return answer;
  }

  const bits = (packet: string, path: string, headers: string[] = [], body?: Buffer) =>
    rawRequest({
      target: path,
      headers: [`BITS-Packet-Type: ${packet}`, ...headers],
      ...(body ? { body } : {}),
    });

  async function createSession(connection: RawConnection, path: string): Promise<string> {
    const ack = await exchange(
      connection,
      bits('Create-Session', path, [`BITS-Supported-Protocols: ${BITS_PROTOCOL}`]),
    );
    const id = ack.headers['bits-session-id'];
    if (ack.status !== 200 || id === undefined) throw new Error(`Create-Session answered ${ack.status}`);
    return id;
  }

  const fragment = (path: string, id: string, file: Buffer, first: number, last: number) =>
    bits(
      'Fragment',
      path,
      [`BITS-Session-Id: ${id}`, `Content-Range: bytes ${first}-${last}/${file.length}`],
      file.subarray(first, last + 1),
    );

  const replyPath = (directory: string, id: string) =>
    `${directory}/BITS-Sessions/Replies/${id.replace('{', '%7B').replace('}', '%7D')}/responsefile.bin`;

  const expectAppError = (ack: RawResponse, status: number, hresult: string) => {
    expect(ack.status).toBe(status);
    expect(ack.headers['bits-packet-type']).toBe('Ack');
    expect(ack.headers['bits-error-code']).toBe(hresult);
    expect(ack.headers['bits-error']).toBe(hresult);
    expect(ack.headers['bits-error-context']).toBe('0x7');
    expect(ack.headers['bits-reply-url']).toBeUndefined();
  };

  it('replays RX-2 (MC-BUP §4.2) with our URL shapes: notification by reference, Range GET of the reply → 206, Close deletes it', async () => {
    const app = await application(() => Buffer.from(RX2_REPLY));
    const local = await server({ notificationType: 'by-reference', notificationUrl: app.url });
    const exchanges = loadCapture('rx-2');
    expect(exchanges.map((e) => e.name)).toEqual([
      '01-create-session',
      '02-ping',
      '03-fragment',
      '04-reply-get',
      '05-close-session',
    ]);
    const captured = capturedSessionId(exchanges) ?? '';
    const body = fixtureBody(4892);
    const connection = await RawConnection.open(local.port);
    let sessionId: string | undefined;
    const answers = new Map<string, RawResponse>();
    try {
      for (const step of exchanges) {
        // The captured bytes; only the session id (same length, in both spellings) is the live one.
        let raw = step.request.raw.toString('latin1');
        if (sessionId !== undefined) {
          raw = raw.replace(captured, sessionId).replace(captured.slice(1, -1), sessionId.slice(1, -1));
        }
        const length = Number(header(step.request, 'Content-Length') ?? '0');
        const answer = await exchange(
          connection,
          Buffer.concat([Buffer.from(raw, 'latin1'), body.subarray(0, length)]),
        );
        sessionId ??= answer.headers['bits-session-id'];
        answers.set(step.name, answer);
        expect({ step: step.name, status: answer.status }).toEqual({
          step: step.name,
          status: statusOf(step.response),
        });
        if (step.name === '04-reply-get') continue;
        const differences = differencesFromCapture(
          step,
          answer,
          sessionId,
          new Set(['bits-host-id', 'bits-host-id-fallback-timeout', 'bits-reply-url']),
        );
        expect({ step: step.name, differences }).toEqual({ step: step.name, differences: [] });
        expect(answer.body.length).toBe(0);
      }
    } finally {
      connection.destroy();
    }
    const id = sessionId ?? '';

    // The final fragment's ack: IIS's relative URL shape, with forward slashes.
    const ack = answers.get('03-fragment');
    expect(ack?.headers['bits-reply-url']).toBe(`BITS-Sessions/Replies/${id}/responsefile.bin`);

    // The reply download: status, ranges and headers as IIS sent them, our validators.
    const get = answers.get('04-reply-get');
    const capturedGet = exchanges.find((e) => e.name === '04-reply-get') as FixtureExchange;
    expect(requestLine(capturedGet.request).method).toBe('GET');
    for (const name of ['Content-Length', 'Content-Type', 'Content-Range', 'Accept-Ranges']) {
      expect({ name, value: get?.headers[name.toLowerCase()] }).toEqual({
        name,
        value: header(capturedGet.response, name),
      });
    }
    const location = header(capturedGet.response, 'Content-Location')?.replace(
      captured.slice(1, -1),
      id.slice(1, -1),
    );
    expect(get?.headers['content-location']).toBe(location);
    expect(get?.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(new Date(get?.headers['last-modified'] ?? '').getTime()).not.toBeNaN();
    expect(get?.body.equals(Buffer.from(RX2_REPLY).subarray(0, 9977))).toBe(true);

    // The application: called once, synchronously, with IIS's headers and our S3 names and links.
    expect(app.received).toHaveLength(1);
    const notice = app.received[0];
    expect(notice?.headers['user-agent']).toBe('BITSExts 1.5');
    expect(notice?.headers['content-length']).toBe('0');
    expect(notice?.headers['bits-original-request-url']).toBe(
      'http://FRANKCAO8/upload-ref-isapi-WebFarm/2100mb-rfc2119.txt',
    );
    expect(notice?.headers['bits-request-datafile-name']).toBe(
      `s3://${env.bucketName}/uploads/upload-ref-isapi-WebFarm/2100mb-rfc2119.txt`,
    );
    // The application's own key in this attempt's folder; the server serves a copy of it.
    expect(notice?.headers['bits-response-datafile-name']).toMatch(
      new RegExp(`^s3://${env.bucketName}/bits-replies/\\{${id.slice(1, -1)}\\}/\\d+/incoming\\.bin$`),
    );
    expect(notice?.upload.sha256).toBe(sha256(body));

    // After Close-Session: the object stays, the reply is gone, and so is its URL.
    const stored = await getObject('uploads/upload-ref-isapi-WebFarm/2100mb-rfc2119.txt');
    expect(stored && sha256(stored)).toBe(sha256(body));
    expect(await replyKeys(id)).toEqual([]);
    const after = await RawConnection.open(local.port);
    try {
      const gone = await exchange(
        after,
        rawRequest({ method: 'GET', target: replyPath('/upload-ref-isapi-WebFarm', id) }),
      );
      expect(gone.status).toBe(404);
    } finally {
      after.destroy();
    }
  });

  it('by value to an HTTP application: the object is streamed as the body, the answer is the reply; HEAD tells its length; a retried final fragment notifies no second time', async () => {
    const app = await application();
    const local = await server({ notificationType: 'by-value', notificationUrl: app.url });
    const file = fixtureBody(150_000);
    const path = '/by-value/report.bin';
    const connection = await RawConnection.open(local.port);
    try {
      const id = await createSession(connection, path);
      const first = await exchange(connection, fragment(path, id, file, 0, 99_999));
      expect(first.headers['bits-reply-url']).toBeUndefined();
      const final = await exchange(connection, fragment(path, id, file, 100_000, file.length - 1));
      expect(final.status).toBe(200);
      expect(final.headers['bits-received-content-range']).toBe(String(file.length));
      expect(final.headers['bits-reply-url']).toBe(`BITS-Sessions/Replies/${id}/responsefile.bin`);
      expect(app.received).toHaveLength(1);
      expect(app.received[0]?.bodyBytes).toBe(file.length);
      expect(app.received[0]?.upload.sha256).toBe(sha256(file));

      const retry = await exchange(connection, fragment(path, id, file, 100_000, file.length - 1));
      expect(retry.status).toBe(200);
      expect(retry.headers['bits-reply-url']).toBe(final.headers['bits-reply-url']);
      expect(app.received).toHaveLength(1);

      const expected = exampleReply({ sessionId: id, size: file.length, sha256: sha256(file) });
      const whole = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/by-value', id) }),
      );
      expect(whole.status).toBe(200);
      expect(whole.body.equals(expected)).toBe(true);
      const tail = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/by-value', id), headers: ['Range: bytes=-7'] }),
      );
      expect(tail.status).toBe(206);
      expect(tail.headers['content-range']).toBe(
        `bytes ${expected.length - 7}-${expected.length - 1}/${expected.length}`,
      );
      expect(tail.body.equals(expected.subarray(-7))).toBe(true);
    } finally {
      connection.destroy();
    }
    // HEAD on its own connection: headers only, Content-Length of the whole reply.
    const id = (app.received[0]?.upload.sessionId ?? '') as string;
    const headConnection = await RawConnection.open(local.port);
    try {
      headConnection.write(rawRequest({ method: 'HEAD', target: replyPath('/by-value', id) }));
      await headConnection.waitFor(() => headConnection.received.includes('\r\n\r\n'), 5000, 'HEAD answer');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const text = headConnection.received.toString('latin1');
      const expected = exampleReply({ sessionId: id, size: file.length, sha256: sha256(file) });
      expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect(text).toContain(`Content-Length: ${expected.length}\r\n`);
      expect(text).toContain('Accept-Ranges: bytes\r\n');
      expect(text.endsWith('\r\n\r\n')).toBe(true);
    } finally {
      headConnection.destroy();
    }
  });

  it('an application error reaches the client with its status and context 0x7; the client retry notifies again', async () => {
    let calls = 0;
    let status = 500;
    const failing = http.createServer((request, response) => {
      calls += 1;
      request.resume();
      request.on('end', () => response.writeHead(status, { 'Content-Length': '0' }).end());
    });
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/app`;
      const local = await server({ notificationType: 'by-value', notificationUrl: url });
      const file = fixtureBody(5000);
      const path = '/errors/a.bin';
      const connection = await RawConnection.open(local.port);
      try {
        const id = await createSession(connection, path);
        expectAppError(
          await exchange(connection, fragment(path, id, file, 0, file.length - 1)),
          500,
          '0x801901F4',
        );
        status = 403;
        expectAppError(
          await exchange(connection, fragment(path, id, file, 0, file.length - 1)),
          403,
          '0x80190193',
        );
        expect(calls).toBe(2);
        // The object reached its key before the application was called.
        const stored = await env.clients.s3.send(
          new HeadObjectCommand({ Bucket: env.bucketName, Key: `uploads${path}` }),
        );
        expect(stored.ContentLength).toBe(file.length);
        expect(
          (await exchange(connection, bits('Cancel-Session', path, [`BITS-Session-Id: ${id}`]))).status,
        ).toBe(200);
      } finally {
        connection.destroy();
      }
    } finally {
      await new Promise<void>((resolve) => failing.close(() => resolve()));
    }
  });

  it('a Lambda-style function by reference: it reads the upload through the presigned S3 link, answers the reply; a failing function gives 500 with context 0x7', async () => {
    const example = exampleNotificationFunction();
    let fail = false;
    const events: NotificationEvent[] = [];
    const local = await server(
      { notificationType: 'by-reference', notificationFunction: EXAMPLE_FUNCTION_NAME },
      {
        notificationFunction: async (event) => {
          events.push(event);
          if (fail) throw new Error('the application broke');
          return example(event);
        },
      },
    );
    const file = fixtureBody(70_000);
    const connection = await RawConnection.open(local.port);
    try {
      const path = '/function/ok.bin';
      const id = await createSession(connection, path);
      const final = await exchange(connection, fragment(path, id, file, 0, file.length - 1));
      expect(final.status).toBe(200);
      expect(final.headers['bits-reply-url']).toBe(`BITS-Sessions/Replies/${id}/responsefile.bin`);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'by-reference',
        sessionId: id,
        principal: 'anonymous',
        size: file.length,
      });
      expect(events[0]?.body).toBeUndefined();
      const retry = await exchange(connection, fragment(path, id, file, 0, file.length - 1));
      expect(retry.headers['bits-reply-url']).toBe(final.headers['bits-reply-url']);
      expect(events).toHaveLength(1);
      const reply = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/function', id) }),
      );
      expect(reply.body.toString()).toContain(`sha256 ${sha256(file)}`);
      expect(
        (await exchange(connection, bits('Close-Session', path, [`BITS-Session-Id: ${id}`]))).status,
      ).toBe(200);
      expect(await replyKeys(id)).toEqual([]);

      fail = true;
      const failingPath = '/function/fails.bin';
      const other = await createSession(connection, failingPath);
      expectAppError(
        await exchange(connection, fragment(failingPath, other, file, 0, file.length - 1)),
        500,
        '0x801901F4',
      );
    } finally {
      connection.destroy();
    }
  });

  it('a destination name outside Latin-1, by reference to the example application: names percent-encoded (UTF-8), the upload read through its link, the reply served', async () => {
    const app = await application();
    const local = await server({ notificationType: 'by-reference', notificationUrl: app.url });
    const file = fixtureBody(20_000);
    const path = '/unicode/%E6%97%A5%E6%9C%AC%20caf%C3%A9.bin';
    const key = 'uploads/unicode/日本 café.bin';
    const connection = await RawConnection.open(local.port);
    try {
      const id = await createSession(connection, path);
      const final = await exchange(connection, fragment(path, id, file, 0, file.length - 1));
      expect(final.status).toBe(200);
      expect(final.headers['bits-reply-url']).toBe(`BITS-Sessions/Replies/${id}/responsefile.bin`);
      const notice = app.received[0];
      expect(notice?.headers['bits-request-datafile-name']).toBe(
        `s3://${env.bucketName}/uploads/unicode/%E6%97%A5%E6%9C%AC%20caf%C3%A9.bin`,
      );
      expect(decodeURIComponent(notice?.headers['bits-request-datafile-name'] ?? '')).toBe(
        `s3://${env.bucketName}/${key}`,
      );
      expect(notice?.upload.sha256).toBe(sha256(file));
      const reply = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/unicode', id) }),
      );
      expect(reply.status).toBe(200);
      expect(
        reply.body.equals(exampleReply({ sessionId: id, size: file.length, sha256: sha256(file) })),
      ).toBe(true);
    } finally {
      connection.destroy();
    }
  });

  it('a reply changed after it was recorded changes nothing: a late PUT through the link is ignored, another object at the served key gets 404, never 500', async () => {
    const app = await application(() => Buffer.from('0123456789'));
    const local = await server({ notificationType: 'by-reference', notificationUrl: app.url });
    const file = fixtureBody(3000);
    const path = '/changed/a.bin';
    const connection = await RawConnection.open(local.port);
    try {
      const id = await createSession(connection, path);
      expect((await exchange(connection, fragment(path, id, file, 0, file.length - 1))).status).toBe(200);
      // The application writes again through its presigned PUT, still valid after its answer.
      const link = app.received[0]?.headers['bits-response-datafile-url'] ?? '';
      expect((await fetch(link, { method: 'PUT', body: Buffer.from('XYZ') })).ok).toBe(true);
      const get = () => rawRequest({ method: 'GET', target: replyPath('/changed', id) });
      const whole = await exchange(connection, get());
      expect(whole.status).toBe(200);
      expect(whole.body.toString()).toBe('0123456789');
      const range = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/changed', id), headers: ['Range: bytes=5-'] }),
      );
      expect(range.status).toBe(206);
      expect(range.body.toString()).toBe('56789');
      // Nothing but the server writes the served key; should anything, its bytes are never sent.
      const served = (await replyKeys(id)).find((key) => key.endsWith('/responsefile.bin')) ?? '';
      await env.clients.s3.send(
        new PutObjectCommand({ Bucket: env.bucketName, Key: served, Body: Buffer.from('XYZ') }),
      );
      expect((await exchange(connection, get())).status).toBe(404);
      const past = await exchange(
        connection,
        rawRequest({ method: 'GET', target: replyPath('/changed', id), headers: ['Range: bytes=5-'] }),
      );
      expect(past.status).toBe(404);
    } finally {
      connection.destroy();
    }
  });
});
