import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { createAwsClients } from '../../../lambda/adapters/aws-clients';
import { ConfigError } from '../../../lambda/config';
import {
  clientCapture,
  loadTracer,
  TRACING_ENV,
  tracingEnabled,
} from '../../../lambda/observability/tracing';

/** The name aws-xray-sdk-core gives the middleware captureAWSv3Client adds. */
const XRAY_MIDDLEWARE = 'XRaySDKInstrumentation';
const region = 'eu-west-1';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const middlewareOf = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().join('\n');

describe('tracingEnabled', () => {
  it('is off unless BITS_TRACING is true, and refuses anything but true or false', () => {
    expect(tracingEnabled({})).toBe(false);
    expect(tracingEnabled({ [TRACING_ENV]: '' })).toBe(false);
    expect(tracingEnabled({ [TRACING_ENV]: 'false' })).toBe(false);
    expect(tracingEnabled({ [TRACING_ENV]: 'true' })).toBe(true);
    expect(() => tracingEnabled({ [TRACING_ENV]: 'yes' })).toThrow(ConfigError);
    expect(() => tracingEnabled({ [TRACING_ENV]: 'yes' })).toThrow(TRACING_ENV);
  });
});

describe('clientCapture', () => {
  it('does not load the tracer when tracing is off', () => {
    const load = jest.fn(loadTracer);
    expect(clientCapture({}, load)).toBeUndefined();
    expect(clientCapture({ [TRACING_ENV]: 'false' }, load)).toBeUndefined();
    expect(load).not.toHaveBeenCalled();
  });

  it('has the client factory hand every SDK client to the tracer when tracing is on', () => {
    const captured: unknown[] = [];
    const capture = clientCapture({ [TRACING_ENV]: 'true' }, () => ({
      captureAWSv3Client: <T>(client: T): T => {
        captured.push(client);
        return client;
      },
    }));

    const clients = createAwsClients({ region, credentials, ...(capture === undefined ? {} : { capture }) });

    // Every client the factory builds, in order; the document client is a view of the DynamoDB one.
    const built = Object.values(clients).filter((client) => client !== clients.documents);
    expect(captured).toHaveLength(built.length);
    built.forEach((client, index) => {
      expect(captured[index]).toBe(client);
    });
    expect(captured).toContain(clients.s3);
    expect(captured).toContain(clients.dynamo);
    expect(clients.s3).toBeInstanceOf(S3Client);
    expect(clients.dynamo).toBeInstanceOf(DynamoDBClient);
    // The document client runs on the DynamoDB client's middleware, so it is covered too.
    expect(clients.documents.middlewareStack).toBe(clients.dynamo.middlewareStack);
  });

  describe('with Powertools Tracer in a Lambda environment', () => {
    const keys = ['AWS_EXECUTION_ENV', 'POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS'] as const;
    const saved = keys.map((key) => process.env[key]);
    beforeAll(() => {
      // The tracer switches itself off outside Lambda; AWS_EXECUTION_ENV is how it tells. HTTP
      // capture patches node:https process-wide, which other suites in this worker must not see.
      process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs22.x';
      process.env.POWERTOOLS_TRACER_CAPTURE_HTTPS_REQUESTS = 'false';
    });
    afterAll(() => {
      keys.forEach((key, index) => {
        const value = saved[index];
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      });
    });

    it('instruments every client with the X-Ray middleware', () => {
      const capture = clientCapture({ [TRACING_ENV]: 'true' });
      expect(capture).toBeDefined();

      const clients = createAwsClients({
        region,
        credentials,
        ...(capture === undefined ? {} : { capture }),
      });

      for (const client of Object.values(clients)) {
        expect(middlewareOf(client)).toContain(XRAY_MIDDLEWARE);
      }
    });

    it('leaves clients built without it uninstrumented', () => {
      const clients = createAwsClients({ region, credentials });
      for (const client of Object.values(clients)) {
        expect(middlewareOf(client)).not.toContain(XRAY_MIDDLEWARE);
      }
    });
  });
});
