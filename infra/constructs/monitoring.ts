import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { OWNER_INDEX } from '../../lambda/adapters/dynamodb-session-store';
import type { SweepMetricName } from '../../lambda/cleanup/sweep-metrics';
import {
  DIMENSIONS,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  type MetricName,
} from '../../lambda/observability/metrics';
import { PACKET_TYPES } from '../../lambda/protocol/packet-types';
import { AlbFront } from './alb-front';
import type { HttpApiFront } from './http-api-front';

/** Period of the dashboard graphs and of every alarm but the sweeper's (which follow its schedule). */
export const MONITORING_PERIOD = Duration.minutes(5);
/** The 5xx ratio reads 0 in periods with fewer requests: one failed request of three is no outage. */
export const FRONT_5XX_MIN_REQUESTS = 10;
/** Sweeper runs in a row that must fail before its error alarm fires (lambda/cleanup/README.md). */
export const SWEEPER_FAILED_RUNS = 3;
/** Sweeper runs in a row that must each leave expired sessions unreleased before the stuck-sessions alarm fires. */
export const STUCK_SESSION_RUNS = 4;

/** The alarms, by construct id; README "Operations → Alarms" describes each. */
export const ALARM_IDS = [
  'Front5xxRate',
  'FunctionErrors',
  'FunctionThrottles',
  'InternalErrors',
  'TableThrottles',
  'SweeperErrors',
  'StuckSessions',
] as const;
export type AlarmId = (typeof ALARM_IDS)[number];

export interface MonitoringProps {
  /** The BITS function. */
  readonly handler: lambda.IFunction;
  readonly sweeper: lambda.IFunction;
  readonly table: dynamodb.ITableV2;
  readonly front: HttpApiFront | AlbFront;
  /** The sweeper's schedule: the period of its alarms. */
  readonly sweepInterval: Duration;
  /** Front 5xx answers, in percent of requests, that raise the 5xx alarm. */
  readonly front5xxPercent: number;
  /** An existing SNS topic every alarm notifies. */
  readonly alarmTopicArn?: string;
  /** Creates a topic with this address subscribed; exclusive with alarmTopicArn. */
  readonly alarmEmail?: string;
}

/** A metric the BITS function or the sweeper publishes in EMF (lambda/observability/metrics.ts). */
function bitsMetric(
  metricName: MetricName | SweepMetricName,
  options: {
    statistic?: string;
    period?: Duration;
    dimensions?: Record<string, string>;
    label?: string;
  } = {},
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    // Powertools' default dimension: every metric carries it, alone or with the others of its set.
    dimensionsMap: { service: METRICS_SERVICE, ...options.dimensions },
    statistic: options.statistic ?? 'Sum',
    period: options.period ?? MONITORING_PERIOD,
    ...(options.label === undefined ? {} : { label: options.label }),
  });
}

/**
 * A search over the (service, PacketType, Status) dimension set: one series per matching dimension
 * combination. Metrics of the (service) set alone never match this schema.
 */
function requestSearch(metricName: MetricName, statistic: string, filter: string): string {
  const seconds = MONITORING_PERIOD.toSeconds();
  return `SEARCH('{${METRICS_NAMESPACE},${DIMENSIONS.packetType},${DIMENSIONS.status},service} MetricName="${metricName}" ${filter}', '${statistic}', ${seconds})`;
}

/**
 * The stack's CloudWatch dashboard and alarms (issue #10), and the optional SNS topic every alarm
 * notifies on ALARM and on OK.
 */
export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: Readonly<Record<AlarmId, cloudwatch.Alarm>>;
  /** Where alarms notify, when configured. */
  readonly topic: sns.ITopic | undefined;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = this.alarmTopic(props);
    const front = frontMetrics(props.front);
    const tableName = props.table.tableName;
    const tableMetric = (metricName: string, dimensions: Record<string, string> = {}) =>
      new cloudwatch.Metric({
        namespace: 'AWS/DynamoDB',
        metricName,
        dimensionsMap: { TableName: tableName, ...dimensions },
        statistic: 'Sum',
        period: MONITORING_PERIOD,
      });
    const sweepPeriod = props.sweepInterval;

    const alarms: Record<AlarmId, cloudwatch.Alarm> = {
      Front5xxRate: this.alarm('Front5xxRate', {
        metric: front.errorRate,
        threshold: props.front5xxPercent,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        description: `${props.front5xxPercent} % or more of the front's answers were 5xx for 15 minutes (periods with at least ${FRONT_5XX_MIN_REQUESTS} requests). BITS answers some protocol errors with 500 (SESSION_NOT_FOUND, UPLOAD_TOO_LARGE), so a low rate is normal; a high one means the function, the front or a back end is failing.`,
      }),
      FunctionErrors: this.alarm('FunctionErrors', {
        metric: props.handler.metricErrors({ period: MONITORING_PERIOD, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        description:
          'The BITS function failed invocations (crash, timeout, out of memory) in two of three 5-minute periods. The handler turns every fault into a BITS answer, so any Lambda error is unexpected.',
      }),
      FunctionThrottles: this.alarm('FunctionThrottles', {
        metric: props.handler.metricThrottles({ period: MONITORING_PERIOD, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        description:
          'Lambda throttled the BITS function in two of three 5-minute periods: reserved concurrency or the account limit is too low for the clients.',
      }),
      InternalErrors: this.alarm('InternalErrors', {
        metric: bitsMetric('BitsErrors', { dimensions: { [DIMENSIONS.errorName]: 'INTERNAL' } }),
        threshold: 1,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        description:
          'The BITS function answered INTERNAL (an unexpected fault, logged with its stack as "unexpected error").',
      }),
      TableThrottles: this.alarm('TableThrottles', {
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(reads, 0) + FILL(writes, 0) + FILL(indexWrites, 0)',
          usingMetrics: {
            reads: tableMetric('ReadThrottleEvents'),
            writes: tableMetric('WriteThrottleEvents'),
            indexWrites: tableMetric('WriteThrottleEvents', { GlobalSecondaryIndexName: OWNER_INDEX.name }),
          },
          label: 'DynamoDB throttle events',
          period: MONITORING_PERIOD,
        }),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        description:
          'DynamoDB throttled reads or writes of the session table (or its owner index) in two of three 5-minute periods; clients get 503 (SERVER_BUSY) once the SDK retries are spent.',
      }),
      SweeperErrors: this.alarm('SweeperErrors', {
        metric: props.sweeper.metricErrors({ period: sweepPeriod, statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: SWEEPER_FAILED_RUNS,
        datapointsToAlarm: SWEEPER_FAILED_RUNS,
        description: `The abandoned-session sweeper failed ${SWEEPER_FAILED_RUNS} runs in a row (SweepIncompleteError, a timeout or a crash): expired sessions keep their storage until it runs again.`,
      }),
      StuckSessions: this.alarm('StuckSessions', {
        // Minimum: every run of the period left some; one run that caught up clears it.
        metric: bitsMetric('ExpiredSessionsLeft', { statistic: 'Minimum', period: sweepPeriod }),
        threshold: 1,
        evaluationPeriods: STUCK_SESSION_RUNS,
        datapointsToAlarm: STUCK_SESSION_RUNS,
        description: `${STUCK_SESSION_RUNS} sweeper runs in a row left sessions that expired (past timeout and grace) with their storage: the sweeper fails on them or cannot keep up (BITS_SWEEP_MAX_SESSIONS).`,
      }),
    };
    this.alarms = alarms;

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-${Aws.REGION}`,
      defaultInterval: Duration.hours(6),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            alarms: Object.values(alarms),
            width: 24,
            height: 3,
          }),
        ],
        [
          graph('Requests by packet type', [
            ...[...PACKET_TYPES, 'unknown'].map(
              (packetType) =>
                new cloudwatch.MathExpression({
                  expression: `SUM(${requestSearch('Requests', 'Sum', `${DIMENSIONS.packetType}="${packetType}"`)})`,
                  label: packetType,
                  period: MONITORING_PERIOD,
                }),
            ),
          ]),
          graph('BITS errors by name', [
            new cloudwatch.SearchExpression({
              expression: `SEARCH('{${METRICS_NAMESPACE},${DIMENSIONS.errorName},service} MetricName="BitsErrors"', 'Sum', ${MONITORING_PERIOD.toSeconds()})`,
              period: MONITORING_PERIOD,
            }),
          ]),
          graph('Latency of 200 answers by packet type (ms)', [
            new cloudwatch.SearchExpression({
              expression: requestSearch('Latency', 'p50', `${DIMENSIONS.status}="200"`),
              label: 'p50',
              period: MONITORING_PERIOD,
            }),
            new cloudwatch.SearchExpression({
              expression: requestSearch('Latency', 'p95', `${DIMENSIONS.status}="200"`),
              label: 'p95',
              period: MONITORING_PERIOD,
            }),
          ]),
        ],
        [
          graph('Bytes', [
            bitsMetric('BytesReceived', { label: 'received' }),
            bitsMetric('BytesCommitted', { label: 'committed (new bytes of fragments)' }),
            bitsMetric('UploadBytes', { label: 'completed uploads' }),
          ]),
          graph('Uploads', [
            bitsMetric('UploadsCompleted', { label: 'completed' }),
            bitsMetric('UploadsCancelled', { label: 'cancelled' }),
            bitsMetric('UploadsDiscarded', { label: 'discarded by Close-Session' }),
          ]),
          graph(
            'Assembler',
            [
              bitsMetric('PartsUploaded', { label: 'parts uploaded' }),
              bitsMetric('MergedChunks', { label: 'staged chunks merged' }),
              bitsMetric('CommitConflicts', { label: 'commit conflicts' }),
            ],
            [
              bitsMetric('StagedBytes', { label: 'staged bytes' }),
              bitsMetric('StagedBytesRead', { label: 'staged bytes read back' }),
            ],
          ),
        ],
        [
          graph('BITS function invocations', [
            props.handler.metricInvocations({ period: MONITORING_PERIOD, statistic: 'Sum' }),
            props.handler.metricErrors({ period: MONITORING_PERIOD, statistic: 'Sum' }),
            props.handler.metricThrottles({ period: MONITORING_PERIOD, statistic: 'Sum' }),
          ]),
          graph('BITS function duration (ms)', [
            props.handler.metricDuration({ period: MONITORING_PERIOD, statistic: 'p50', label: 'p50' }),
            props.handler.metricDuration({ period: MONITORING_PERIOD, statistic: 'p95', label: 'p95' }),
            props.handler.metricDuration({ period: MONITORING_PERIOD, statistic: 'Maximum', label: 'max' }),
          ]),
          graph('BITS function concurrency', [
            props.handler.metric('ConcurrentExecutions', {
              period: MONITORING_PERIOD,
              statistic: 'Maximum',
              label: 'concurrent executions (max)',
            }),
          ]),
        ],
        [
          graph(
            'Session table capacity',
            [
              tableMetric('ConsumedReadCapacityUnits').with({ label: 'read units' }),
              tableMetric('ConsumedWriteCapacityUnits').with({ label: 'write units' }),
            ],
            [],
            6,
          ),
          graph(
            'Session table throttle events',
            [
              tableMetric('ReadThrottleEvents').with({ label: 'reads' }),
              tableMetric('WriteThrottleEvents').with({ label: 'writes' }),
              tableMetric('WriteThrottleEvents', { GlobalSecondaryIndexName: OWNER_INDEX.name }).with({
                label: 'owner-index writes',
              }),
            ],
            [],
            6,
          ),
          graph(`Front (${front.kind}) answers`, front.answers, [], 6),
          graph(`Front (${front.kind}) latency (ms)`, front.latency, [], 6),
        ],
        [
          graph(
            'Sweeper runs',
            [
              bitsMetric('ExpiredSessionsFound', { period: sweepPeriod, label: 'expired found' }),
              bitsMetric('SessionsSwept', { period: sweepPeriod, label: 'sessions released' }),
              bitsMetric('TombstonesForgotten', { period: sweepPeriod, label: 'tombstones forgotten' }),
              bitsMetric('SweepFailures', { period: sweepPeriod, label: 'failures' }),
              bitsMetric('ExpiredSessionsLeft', {
                period: sweepPeriod,
                statistic: 'Maximum',
                label: 'left (max)',
              }),
            ],
            [],
            12,
          ),
          graph(
            'Sweeper function',
            [
              props.sweeper.metricInvocations({ period: sweepPeriod, statistic: 'Sum' }),
              props.sweeper.metricErrors({ period: sweepPeriod, statistic: 'Sum' }),
            ],
            [
              props.sweeper.metricDuration({
                period: sweepPeriod,
                statistic: 'Maximum',
                label: 'duration (max)',
              }),
            ],
            12,
          ),
        ],
      ],
    });
  }

  /** Alarms share one shape: at or above the threshold; no data (no traffic, no run) is not a breach. */
  private alarm(
    id: AlarmId,
    options: {
      metric: cloudwatch.IMetric;
      threshold: number;
      evaluationPeriods: number;
      datapointsToAlarm: number;
      description: string;
    },
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${Stack.of(this).stackName}-${id}`,
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods,
      datapointsToAlarm: options.datapointsToAlarm,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (this.topic !== undefined) {
      alarm.addAlarmAction(new actions.SnsAction(this.topic));
      alarm.addOkAction(new actions.SnsAction(this.topic));
    }
    return alarm;
  }

  /** The configured topic: an existing one by ARN, or a new one with the email subscription. */
  private alarmTopic(props: MonitoringProps): sns.ITopic | undefined {
    if (props.alarmTopicArn !== undefined) {
      return sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
    }
    if (props.alarmEmail === undefined) return undefined;
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${Stack.of(this).stackName} alarms`,
      enforceSSL: true,
    });
    // The topic policy replaces SNS's default one, so CloudWatch needs its own allow, for this account's alarms only.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
          },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
    );
    topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    Validations.of(topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key aws/sns, and the messages carry alarm names, states and metric values only, no upload data or credentials.',
    });
    return topic;
  }
}

/** A graph of the 24-column dashboard grid; three to a row unless told. */
const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = [], width = 8) =>
  new cloudwatch.GraphWidget({ title, left, ...(right.length === 0 ? {} : { right }), width, height: 6 });

interface FrontMetrics {
  readonly kind: 'http-api' | 'alb';
  /** Percent of answers that were 5xx, 0 in periods below FRONT_5XX_MIN_REQUESTS requests. */
  readonly errorRate: cloudwatch.IMetric;
  readonly answers: cloudwatch.IMetric[];
  readonly latency: cloudwatch.IMetric[];
}

/** The front's own metrics: API Gateway by API and stage, or the load balancer's. */
function frontMetrics(front: HttpApiFront | AlbFront): FrontMetrics {
  const options = { period: MONITORING_PERIOD, statistic: 'Sum' };
  const ratio = (errors: string) =>
    `IF(requests >= ${FRONT_5XX_MIN_REQUESTS}, 100 * (${errors}) / requests, 0)`;
  if (front instanceof AlbFront) {
    const metrics = front.loadBalancer.metrics;
    const requests = metrics.requestCount({ ...options, label: 'requests' });
    const target5xx = metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
      ...options,
      label: 'function 5xx',
    });
    const elb5xx = metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
      ...options,
      label: 'load balancer 5xx',
    });
    return {
      kind: 'alb',
      // The HTTPCode metrics are only reported when non-zero: FILL turns their gaps into 0.
      errorRate: new cloudwatch.MathExpression({
        expression: ratio('FILL(target5xx, 0) + FILL(elb5xx, 0)'),
        usingMetrics: { requests, target5xx, elb5xx },
        label: '5xx % of requests',
        period: MONITORING_PERIOD,
      }),
      answers: [
        requests,
        metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, { ...options, label: 'function 4xx' }),
        metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_4XX_COUNT, { ...options, label: 'load balancer 4xx' }),
        target5xx,
        elb5xx,
      ],
      latency: [
        metrics.targetResponseTime({ period: MONITORING_PERIOD, statistic: 'p50', label: 'target p50' }),
        metrics.targetResponseTime({ period: MONITORING_PERIOD, statistic: 'p95', label: 'target p95' }),
      ],
    };
  }
  const stage = front.stage;
  const requests = stage.metricCount({ ...options, label: 'requests' });
  const errors = stage.metricServerError({ ...options, label: '5xx' });
  return {
    kind: 'http-api',
    errorRate: new cloudwatch.MathExpression({
      expression: ratio('FILL(errors, 0)'),
      usingMetrics: { requests, errors },
      label: '5xx % of requests',
      period: MONITORING_PERIOD,
    }),
    answers: [requests, stage.metricClientError({ ...options, label: '4xx' }), errors],
    latency: [
      stage.metricLatency({ period: MONITORING_PERIOD, statistic: 'p50', label: 'p50' }),
      stage.metricLatency({ period: MONITORING_PERIOD, statistic: 'p95', label: 'p95' }),
      stage.metricIntegrationLatency({
        period: MONITORING_PERIOD,
        statistic: 'p95',
        label: 'integration p95',
      }),
    ],
  };
}
