import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { generateSelfSignedCertificate } from '../../local/http/self-signed';
import { type HttpFront, startHttpFront } from '../../local/http/server';

const certificate = generateSelfSignedCertificate();
let front: HttpFront;

beforeAll(async () => {
  front = await startHttpFront({
    tls: certificate,
    onRequest: async (request) => ({
      statusCode: 200,
      headers: { 'X-Method': request.method },
      body: request.body,
    }),
    headerTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    onError: () => undefined,
  });
});

afterAll(() => front.close());

function send(agent: https.Agent, host: string, body: string) {
  return new Promise<{ status: number; method: unknown; body: string; reused: boolean }>(
    (resolve, reject) => {
      const request = https.request(
        { host, port: front.port, path: '/up/a.bin', method: 'BITS_POST', agent, ca: certificate.cert },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              method: response.headers['x-method'],
              body: Buffer.concat(chunks).toString(),
              reused: request.reusedSocket,
            }),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    },
  );
}

describe('local HTTP front over TLS', () => {
  it('serves BITS_POST over HTTPS with the generated certificate, verified by name and by IP', async () => {
    expect(front.url).toBe(`https://127.0.0.1:${front.port}`);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await send(agent, '127.0.0.1', 'one');
      const second = await send(agent, '127.0.0.1', 'two');
      expect(first).toEqual({ status: 200, method: 'BITS_POST', body: 'one', reused: false });
      expect(second).toEqual({ status: 200, method: 'BITS_POST', body: 'two', reused: true });
      expect(await send(agent, 'localhost', 'three')).toMatchObject({ status: 200, body: 'three' });
    } finally {
      agent.destroy();
    }
  });

  it('is refused by a client that does not trust the certificate', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: front.port }, () => resolve('connected'));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(outcome).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('keeps serving after a client sends plain HTTP to the TLS port', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: front.port });
    socket.on('error', () => undefined);
    socket.write('BITS_POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    const agent = new https.Agent({ keepAlive: false });
    expect((await send(agent, '127.0.0.1', 'after')).status).toBe(200);
  });
});
