import { createAwsClients } from './adapters/aws-clients';
import { composeDeps } from './compose';
import { loadConfig } from './config';
import { createHandler } from './create-handler';
import { clientCapture } from './observability/tracing';

/**
 * The Lambda entry point. Everything is built once per execution environment, at module scope, so
 * warm invocations reuse the SDK clients and their connections: config, SDK clients (standard
 * retries, region and credentials from the runtime; captured by Powertools Tracer when BITS_TRACING
 * is true), then composeDeps — the same wiring of adapters, logger and metrics that the local
 * server uses.
 */
export const handler = createHandler(
  composeDeps(loadConfig(process.env), createAwsClients({ capture: clientCapture(process.env) })),
);
