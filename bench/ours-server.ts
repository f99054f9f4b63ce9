/**
 * Child process: our local server (startLocalServer: the production handler and adapters behind the
 * local HTTP front) on the bench's emulators, with counting middleware on its SDK clients.
 * Configuration comes from BITS_* variables (loadConfig), endpoints from BENCH_* variables.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { loadConfig } from '../lambda/config';
import { startLocalServer } from '../local/local-server';
import { serveParent } from './child-protocol';
import { Counters } from './counters';
import { addSample } from './stats';

/**
 * The handler logs every answer with `latencyMs`, measured from its entry to the ack (after the HTTP
 * front has read the whole body and built the event). This logger keeps those figures and prints
 * nothing, so the bench times the handler itself without touching lambda/.
 */
class TimingLogger extends Logger {
  readonly times: Record<string, number[]> = {};
  /** Called with the packet type of every answer: the counters attribute requests to it. */
  onAnswer: (packetType: string) => void = () => {};

  private keep(extra: LogItemExtraInput[number] | undefined): void {
    if (typeof extra !== 'object' || extra === null || extra instanceof Error) return;
    const { packetType, latencyMs } = extra as { packetType?: unknown; latencyMs?: unknown };
    if (typeof latencyMs !== 'number') return;
    const name = typeof packetType === 'string' ? packetType : 'unknown';
    addSample(this.times, name, latencyMs);
    this.onAnswer(name);
  }

  override info(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.keep(extra[0]);
    super.info(input, ...extra);
  }

  override warn(input: LogItemMessage, ...extra: LogItemExtraInput): void {
    this.keep(extra[0]);
    super.warn(input, ...extra);
  }
}

serveParent(async () => {
  const s3Endpoint = process.env.BENCH_S3_ENDPOINT;
  const dynamoEndpoint = process.env.BENCH_DYNAMO_ENDPOINT;
  if (s3Endpoint === undefined || dynamoEndpoint === undefined) {
    throw new Error('BENCH_S3_ENDPOINT and BENCH_DYNAMO_ENDPOINT are required');
  }
  const config = loadConfig(process.env);
  const s3 = new Counters();
  const dynamo = new Counters();
  const logger = new TimingLogger({ serviceName: 'bits-upload-bench', logLevel: 'SILENT' });
  // The handler logs once per request, after its last AWS call: that closes the request's counts.
  logger.onAnswer = (packetType) => {
    s3.endPhase(packetType);
    dynamo.endPhase(packetType);
  };
  const server = await startLocalServer({
    config,
    endpoints: { s3Endpoint, dynamoEndpoint },
    logger,
    onClients: (clients) => {
      s3.attach(clients.s3);
      // The document client shares the DynamoDB client's middleware stack: one attach covers both.
      dynamo.attach(clients.dynamo);
      dynamo.attachCapacity(clients.dynamo);
    },
  });
  return {
    url: server.url,
    reset: () => {
      s3.reset();
      dynamo.reset();
      for (const name of Object.keys(logger.times)) delete logger.times[name];
    },
    report: () => ({ s3: s3.snapshot(), dynamo: dynamo.snapshot(), serverMs: structuredClone(logger.times) }),
    stop: () => server.stop(),
  };
});
