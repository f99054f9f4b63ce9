import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { LocalServer } from '../../local/local-server';
import { type AwsTestEnv, createAwsTestEnv } from '../helpers/aws-test-env';
import {
  capturedSessionId,
  differencesFromCapture,
  fixtureBody,
  header,
  loadCapture,
} from '../helpers/fixtures';
import { startTestServer } from '../helpers/local-server-env';

interface RawAnswer {
  readonly statusLine: string;
  readonly status: number;
  readonly headers: Record<string, string>;
}

/** Reads one bodiless response (every BITS ack has Content-Length: 0) from a socket. */
function readAnswer(socket: Socket, pending: { buffer: Buffer }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const tryParse = () => {
      const end = pending.buffer.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const [statusLine = '', ...lines] = pending.buffer.subarray(0, end).toString('latin1').split('\r\n');
      pending.buffer = pending.buffer.subarray(end + 4);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ statusLine, status: Number(statusLine.split(' ')[1]), headers });
      return true;
    };
    const onData = (chunk: Buffer) => {
      pending.buffer = Buffer.concat([pending.buffer, chunk]);
      tryParse();
    };
    if (!tryParse()) {
      socket.on('data', onData);
      socket.once('error', reject);
    }
  });
}

describe('local server over raw TCP', () => {
  let env: AwsTestEnv;
  let server: LocalServer;

  beforeAll(async () => {
    env = await createAwsTestEnv('local-server');
    server = await startTestServer(env);
  });

  afterAll(async () => {
    await server.stop();
    await env.destroy();
  });

  /** RX-2 headers of features this plain-upload server does not use (upload-reply: upload-reply.test.ts). */
  const LATER_FEATURES = new Set(['bits-host-id', 'bits-host-id-fallback-timeout', 'bits-reply-url']);

  it.each([
    ['rx-1', '/upload/2000mb-rfc2119.txt'],
    ['rx-2', '/upload-ref-isapi-WebFarm/2100mb-rfc2119.txt'],
  ])(
    'answers the %s capture, replayed byte for byte on one keep-alive connection, as IIS did',
    async (capture, path) => {
      const exchanges = loadCapture(capture).filter((exchange) => !exchange.name.includes('reply-get'));
      const captured = capturedSessionId(exchanges) ?? '';
      const socket = connect(server.port, '127.0.0.1');
      const pending = { buffer: Buffer.alloc(0) };
      let sessionId: string | undefined;
      const body = fixtureBody(4892);
      try {
        for (const exchange of exchanges) {
          // Same bytes as captured; only the session id (same length) is the live one.
          const raw = sessionId
            ? exchange.request.raw.toString('latin1').replace(captured, sessionId)
            : exchange.request.raw;
          const length = Number(header(exchange.request, 'Content-Length') ?? '0');
          socket.write(Buffer.concat([Buffer.from(raw as string, 'latin1'), body.subarray(0, length)]));
          const answer = await readAnswer(socket, pending);
          sessionId ??= answer.headers['bits-session-id'];
          const differences = differencesFromCapture(exchange, answer, sessionId, LATER_FEATURES);
          expect({ name: exchange.name, differences }).toEqual({ name: exchange.name, differences: [] });
          expect(answer.statusLine).toBe(exchange.response.startLine);
        }
      } finally {
        socket.destroy();
      }
      const object = await env.clients.s3.send(
        new GetObjectCommand({ Bucket: env.bucketName, Key: `uploads${path}` }),
      );
      const stored = Buffer.from(
        await (object.Body?.transformToByteArray() ?? Promise.resolve(new Uint8Array())),
      );
      expect(createHash('sha256').update(stored).digest('hex')).toBe(
        createHash('sha256').update(body).digest('hex'),
      );
      expect(object.Metadata?.['bits-session-id']).toBe(sessionId);
    },
  );

  it('refuses a fragment above the maximum size with 413 and BITS error headers before reading the body', async () => {
    const socket = connect(server.port, '127.0.0.1');
    const pending = { buffer: Buffer.alloc(0) };
    try {
      socket.write(
        'BITS_POST /up/big.bin HTTP/1.1\r\nHost: x\r\nBITS-Packet-Type: Fragment\r\n' +
          'BITS-Session-Id: {00000000-0000-0000-0000-000000000001}\r\n' +
          'Content-Range: bytes 0-99999999/100000000\r\nContent-Length: 100000000\r\n\r\n',
      );
      const answer = await readAnswer(socket, pending);
      expect(answer.status).toBe(413);
      expect(answer.headers['bits-error-code']).toBe('0x80200020');
      expect(answer.headers['bits-packet-type']).toBe('Ack');
    } finally {
      socket.destroy();
    }
  });
});
