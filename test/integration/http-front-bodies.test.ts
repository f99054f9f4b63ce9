import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FrontRequest, type HttpFront, startHttpFront } from '../../local/http/server';
import { RawConnection, rawRequest } from '../helpers/raw-http-client';

/**
 * Body buffers of answered requests are reused (body-pool.ts): these tests check that reuse never
 * lets one request's bytes reach another, in flight or while an answer that echoes them is written.
 */

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Echoes the body after `?ms=` milliseconds, with the digest it had on arrival in X-Sha256; `seen`
 * lists the memory each body was assembled in.
 */
function echoFront(reusedBodyBytes?: number): { start: () => Promise<HttpFront>; seen: ArrayBufferLike[] } {
  const seen: ArrayBufferLike[] = [];
  const start = () =>
    startHttpFront({
      ...(reusedBodyBytes === undefined ? {} : { reusedBodyBytes }),
      maxBodyBytes: 8 * 1024 * 1024,
      onRequest: async (request: FrontRequest) => {
        const digest = sha256(request.body);
        seen.push(request.body.buffer);
        const delay = /[?&]ms=(\d+)/.exec(request.target)?.[1];
        if (delay !== undefined) await sleep(Number(delay));
        return { statusCode: 200, headers: { 'X-Sha256': digest }, body: request.body };
      },
    });
  return { start, seen };
}

/** Sends the request in two writes, so the front assembles the body from pieces. */
async function sendInPieces(connection: RawConnection, target: string, body: Buffer): Promise<void> {
  const bytes = rawRequest({ target, body });
  const half = bytes.length - Math.floor(body.length / 2);
  connection.write(bytes.subarray(0, half));
  await sleep(20);
  connection.write(bytes.subarray(half));
}

describe('local HTTP front: reused body buffers', () => {
  it('assembles the next body on one connection in the memory of the last answered one', async () => {
    const { start, seen } = echoFront();
    const front = await start();
    try {
      const connection = await RawConnection.open(front.port);
      const bodies = [randomBytes(200_000), randomBytes(150_000)];
      for (const [index, body] of bodies.entries()) {
        await sendInPieces(connection, '/echo', body);
        const responses = await connection.responses(index + 1);
        expect(responses[index]?.body.equals(body)).toBe(true);
        expect(responses[index]?.headers['x-sha256']).toBe(sha256(body));
      }
      expect(seen[1]).toBe(seen[0]);
      connection.destroy();
    } finally {
      await front.close();
    }
  });

  it('assembles every body in new memory when reusedBodyBytes is 0', async () => {
    const { start, seen } = echoFront(0);
    const front = await start();
    try {
      const connection = await RawConnection.open(front.port);
      await sendInPieces(connection, '/echo', randomBytes(100_000));
      await connection.responses(1);
      await sendInPieces(connection, '/echo', randomBytes(100_000));
      await connection.responses(2);
      expect(seen[1]).not.toBe(seen[0]);
      connection.destroy();
    } finally {
      await front.close();
    }
  });

  it('never gives one body to two requests in flight on several connections', async () => {
    const { start, seen } = echoFront();
    const front = await start();
    try {
      const connections = await Promise.all([1, 2, 3, 4].map(() => RawConnection.open(front.port)));
      for (let round = 0; round < 3; round += 1) {
        const bodies = connections.map(() => randomBytes(300_000));
        await Promise.all(
          connections.map((connection, index) =>
            sendInPieces(connection, `/echo?ms=${10 * index}`, bodies[index] as Buffer),
          ),
        );
        const answers = await Promise.all(connections.map((connection) => connection.responses(round + 1)));
        answers.forEach((responses, index) => {
          expect(responses[round]?.headers['x-sha256']).toBe(sha256(bodies[index] as Buffer));
          expect(responses[round]?.body.equals(bodies[index] as Buffer)).toBe(true);
        });
      }
      // Reuse happened: fewer distinct buffers than requests.
      expect(new Set(seen).size).toBeLessThan(seen.length);
      for (const connection of connections) connection.destroy();
    } finally {
      await front.close();
    }
  });

  it('keeps a body until the answer that echoes it is written, while other requests arrive', async () => {
    const { start } = echoFront();
    const front = await start();
    try {
      // A client that does not read: the 4 MiB echo cannot be written out for now.
      const slow = net.connect({ host: '127.0.0.1', port: front.port });
      const echoed: Buffer[] = [];
      slow.on('data', (chunk: Buffer) => echoed.push(chunk));
      await new Promise((resolve) => slow.once('connect', resolve));
      const body = randomBytes(4 * 1024 * 1024);
      slow.write(rawRequest({ target: '/echo', body }));
      slow.pause();
      await sleep(300);
      // Meanwhile other bodies of the same size come and go on another connection.
      const other = await RawConnection.open(front.port);
      for (let index = 0; index < 3; index += 1) {
        await sendInPieces(other, '/echo', randomBytes(4 * 1024 * 1024));
        await other.responses(index + 1, 10_000);
      }
      other.destroy();
      slow.resume();
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (Buffer.concat(echoed).length >= body.length) resolve();
          else slow.once('data', check);
        };
        check();
      });
      const received = Buffer.concat(echoed);
      const echo = received.subarray(received.indexOf('\r\n\r\n') + 4);
      expect(sha256(echo)).toBe(sha256(body));
      slow.destroy();
    } finally {
      await front.close();
    }
  });
});
