import { createAwsClients } from '../adapters/aws-clients';
import { composeDeps } from '../compose';
import { loadConfig } from '../config';
import { clientCapture } from '../observability/tracing';
import { DynamoDbExpiredSessions } from './expired-sessions';
import { SweepMetrics } from './sweep-metrics';
import { createSweeper } from './sweeper';
import { loadSweeperSettings } from './sweeper-config';

const config = loadConfig(process.env);
const settings = loadSweeperSettings(process.env);
const clients = createAwsClients({ capture: clientCapture(process.env) });

/**
 * The sweeper's Lambda entry, invoked by an EventBridge schedule (lambda/cleanup/README.md). Built
 * once per execution environment with the same wiring as the BITS function (composeDeps), so it
 * discards sessions with exactly the code Cancel-Session runs. Each run publishes its counts as EMF
 * metrics (sweep-metrics.ts), which the stack's stuck-sessions alarm watches.
 */
export const handler = createSweeper(
  composeDeps(config, clients),
  new DynamoDbExpiredSessions(
    clients.documents,
    config.tableName,
    settings.pageSize === undefined ? {} : { pageSize: settings.pageSize },
  ),
  settings.options,
  new SweepMetrics(),
);
