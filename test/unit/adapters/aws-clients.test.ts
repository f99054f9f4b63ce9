import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAwsClients } from '../../../lambda/adapters/aws-clients';
import { DynamoDbSessionStore } from '../../../lambda/adapters/dynamodb-session-store';
import { StoreUnavailableError } from '../../../lambda/ports/errors';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * A loopback stand-in for DynamoDB that fails the first `failures` requests with a 500, so the
 * test observes the SDK's own retries (the adapters have no retry loops of their own).
 */
async function flakyDynamo(
  failures: number,
): Promise<{ server: Server; endpoint: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      requests += 1;
      response.setHeader('content-type', 'application/x-amz-json-1.0');
      if (requests <= failures) {
        response.statusCode = 500;
        response.end(
          JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'boom' }),
        );
      } else {
        response.end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}`, requests: () => requests };
}

describe('createAwsClients', () => {
  let servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    servers = [];
  });

  it("configures the SDK's standard retry mode with the given attempts", async () => {
    const clients = createAwsClients({ maxAttempts: 5, region: 'eu-west-1', credentials });
    for (const client of [clients.s3, clients.dynamo]) {
      const strategy = (await client.config.retryStrategy()) as { readonly mode?: string };
      expect(strategy.mode).toBe('standard');
      expect(await client.config.maxAttempts()).toBe(5);
    }
    expect(await clients.dynamo.config.region()).toBe('eu-west-1');
  });

  it('addresses an S3 emulator path-style and leaves real S3 virtual-hosted', () => {
    expect(
      createAwsClients({ s3Endpoint: 'http://127.0.0.1:1', region: 'us-east-1' }).s3.config.forcePathStyle,
    ).toBe(true);
    expect(createAwsClients({ region: 'us-east-1' }).s3.config.forcePathStyle).toBeFalsy();
  });

  it('retries a transient DynamoDB failure inside the SDK until it succeeds', async () => {
    const dynamo = await flakyDynamo(2);
    servers.push(dynamo.server);
    const { documents } = createAwsClients({
      dynamoEndpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 3,
    });
    await expect(new DynamoDbSessionStore(documents, 'sessions').getSession('{X}')).resolves.toBeUndefined();
    expect(dynamo.requests()).toBe(3);
  });

  it('reports StoreUnavailableError once the configured attempts are spent', async () => {
    const dynamo = await flakyDynamo(Number.POSITIVE_INFINITY);
    servers.push(dynamo.server);
    const { documents } = createAwsClients({
      dynamoEndpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials,
      maxAttempts: 2,
    });
    await expect(new DynamoDbSessionStore(documents, 'sessions').getSession('{X}')).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    expect(dynamo.requests()).toBe(2);
  });
});
