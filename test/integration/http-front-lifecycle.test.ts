import net from 'node:net';
import { startHttpFront } from '../../local/http/server';
import { RawConnection, rawRequest } from '../helpers/raw-http-client';

const ok = async () => ({ statusCode: 200, headers: {} });

/** Start and stop: each test needs its own server here, so they stay few and fast. */
describe('local HTTP front lifecycle', () => {
  it('listens on 127.0.0.1 and a free port by default, and reports its URL', async () => {
    const front = await startHttpFront({ onRequest: ok });
    try {
      expect(front.host).toBe('127.0.0.1');
      expect(front.port).toBeGreaterThan(0);
      expect(front.url).toBe(`http://127.0.0.1:${front.port}`);
    } finally {
      await front.close();
    }
  });

  it('close() stops listening and destroys open connections, even idle keep-alive ones', async () => {
    const front = await startHttpFront({ onRequest: ok, idleTimeoutMs: 60_000 });
    const connection = await RawConnection.open(front.port);
    connection.write(rawRequest());
    await connection.responses(1);
    const started = Date.now();
    await front.close();
    await connection.waitForClose(1000);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(RawConnection.open(front.port)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close() does not wait for an application call still in progress', async () => {
    let answer: (response: { statusCode: number; headers: Record<string, string> }) => void = () => undefined;
    let called: () => void = () => undefined;
    const calledOnce = new Promise<void>((resolve) => {
      called = resolve;
    });
    const front = await startHttpFront({
      onRequest: () => {
        called();
        return new Promise((resolve) => {
          answer = resolve;
        });
      },
    });
    const connection = await RawConnection.open(front.port);
    connection.write(rawRequest());
    await calledOnce;
    await front.close();
    await connection.waitForClose(1000);
    answer({ statusCode: 200, headers: {} }); // the late answer finds the socket gone and is dropped
    await new Promise((resolve) => setImmediate(resolve));
    expect(connection.received).toHaveLength(0);
  });

  it('rejects when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(startHttpFront({ onRequest: ok, port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it('reports the failure of a throwing maxBodyBytes callback and answers 500', async () => {
    const errors: unknown[] = [];
    const front = await startHttpFront({
      onRequest: ok,
      maxBodyBytes: () => {
        throw new Error('limit lookup failed');
      },
      onError: (error) => errors.push(error),
    });
    try {
      const connection = await RawConnection.open(front.port);
      connection.write(rawRequest());
      const [response] = await connection.responses(1);
      expect(response?.status).toBe(500);
      expect(response?.headers['bits-error-code']).toBe('0x80004005');
      expect(errors).toHaveLength(1);
    } finally {
      await front.close();
    }
  });

  it('writes one line to stderr when the application throws and no onError is given', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const front = await startHttpFront({
      onRequest: async () => {
        throw new Error('application failure');
      },
    });
    try {
      const connection = await RawConnection.open(front.port);
      connection.write(rawRequest());
      const [response] = await connection.responses(1);
      expect(response?.status).toBe(500);
      expect(write).toHaveBeenCalledTimes(1);
      expect(String(write.mock.calls[0]?.[0])).toMatch(/^local http front: Error: application failure\n/);
      connection.destroy();
    } finally {
      write.mockRestore();
      await front.close();
    }
  });
});
