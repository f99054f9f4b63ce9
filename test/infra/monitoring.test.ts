import { ALARM_IDS, type AlarmId, FRONT_5XX_MIN_REQUESTS } from '../../infra/constructs/monitoring';
import { resolveSettings, SettingsError } from '../../infra/settings';
import { SWEEP_METRICS } from '../../lambda/cleanup/sweep-metrics';
import { PACKET_TYPES } from '../../lambda/protocol/packet-types';
import { logicalId, type Synthesized, synthesize } from './helpers';

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:ops-alarms';
const SERVICE = { Name: 'service', Value: 'bits-upload' };

type Properties = Record<string, unknown>;

function alarm(synthesized: Synthesized, id: AlarmId): Properties {
  const construct = synthesized.stack.monitoring.alarms[id];
  return synthesized.template.toJSON().Resources[logicalId(construct)].Properties;
}

/** The expression alarm's inputs by id, as `namespace/name {dimensions} stat period`. */
function alarmInputs(properties: Properties): Record<string, string> {
  const metrics = properties.Metrics as {
    Id: string;
    Expression?: string;
    MetricStat?: {
      Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
      Stat: string;
      Period: number;
    };
  }[];
  return Object.fromEntries(
    metrics.map(({ Id, Expression, MetricStat }) => [
      Id,
      Expression ??
        `${MetricStat?.Metric.Namespace}/${MetricStat?.Metric.MetricName} ${JSON.stringify(
          Object.fromEntries((MetricStat?.Metric.Dimensions ?? []).map((d) => [d.Name, d.Value])),
        )} ${MetricStat?.Stat} ${MetricStat?.Period}`,
    ]),
  );
}

/**
 * The dashboard body as JSON, with every CloudFormation reference inside it written as
 * `@Ref(id)` or `@GetAtt(id.attr)` so the string parses.
 */
function dashboardBody(synthesized: Synthesized): { widgets: Widget[] } {
  const dashboard =
    synthesized.template.toJSON().Resources[logicalId(synthesized.stack.monitoring.dashboard)];
  const render = (part: unknown): string => {
    if (typeof part === 'string') return part;
    const token = part as { Ref?: string; 'Fn::GetAtt'?: string[] };
    if (token.Ref !== undefined) return `@Ref(${token.Ref})`;
    if (token['Fn::GetAtt'] !== undefined) return `@GetAtt(${token['Fn::GetAtt'].join('.')})`;
    throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
  };
  const body = dashboard.Properties.DashboardBody as string | { 'Fn::Join': [string, unknown[]] };
  return JSON.parse(typeof body === 'string' ? body : body['Fn::Join'][1].map(render).join(''));
}

interface Widget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly metrics?: unknown[][];
    readonly alarms?: string[];
  };
}

/** The graph titled `title`, its metrics lines stringified for matching. */
function graphLines(body: { widgets: Widget[] }, title: string): string[] {
  const widget = body.widgets.find((candidate) => candidate.properties.title === title);
  if (widget === undefined) throw new Error(`no widget "${title}"`);
  return (widget.properties.metrics ?? []).map((line) => JSON.stringify(line));
}

let httpApi: Synthesized;
let alb: Synthesized;
beforeAll(() => {
  httpApi = synthesize();
  alb = synthesize({ front: 'alb' });
}, 60_000);

describe('alarms', () => {
  it('exist once each with the stack name in their name, no data counting as not breaching', () => {
    for (const synthesized of [httpApi, alb]) {
      synthesized.template.resourceCountIs('AWS::CloudWatch::Alarm', ALARM_IDS.length);
      for (const id of ALARM_IDS) {
        expect(alarm(synthesized, id)).toMatchObject({
          AlarmName: `BitsUploadTest-${id}`,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
        });
      }
    }
  });

  it('fire on a 5xx rate of 10 % of HTTP API answers for 15 minutes, counted by API and stage', () => {
    const properties = alarm(httpApi, 'Front5xxRate');
    expect(properties).toMatchObject({ Threshold: 10, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    const stage = `{"ApiId":{"Ref":"${logicalId(httpApi.stack.node.findChild('HttpApi').node.findChild('Api'))}"},"Stage":"$default"}`;
    expect(alarmInputs(properties)).toEqual({
      expr_1: `IF(requests >= ${FRONT_5XX_MIN_REQUESTS}, 100 * (FILL(errors, 0)) / requests, 0)`,
      requests: `AWS/ApiGateway/Count ${stage} Sum 300`,
      errors: `AWS/ApiGateway/5xx ${stage} Sum 300`,
    });
  });

  it("fire on a 5xx rate of the load balancer's and the function's answers behind an ALB", () => {
    const properties = alarm(alb, 'Front5xxRate');
    expect(properties).toMatchObject({ Threshold: 10, EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    const loadBalancer = logicalId(alb.stack.node.findChild('Alb').node.findChild('LoadBalancer'));
    const dimensions = `{"LoadBalancer":{"Fn::GetAtt":["${loadBalancer}","LoadBalancerFullName"]}}`;
    expect(alarmInputs(properties)).toEqual({
      expr_1: `IF(requests >= ${FRONT_5XX_MIN_REQUESTS}, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)`,
      requests: `AWS/ApplicationELB/RequestCount ${dimensions} Sum 300`,
      target5xx: `AWS/ApplicationELB/HTTPCode_Target_5XX_Count ${dimensions} Sum 300`,
      elb5xx: `AWS/ApplicationELB/HTTPCode_ELB_5XX_Count ${dimensions} Sum 300`,
    });
  });

  it('take the 5xx threshold from alarm5xxPercent', () => {
    expect(alarm(synthesize({ alarm5xxPercent: 25 }), 'Front5xxRate').Threshold).toBe(25);
    expect(() => resolveSettings({ alarm5xxPercent: 0 }, {})).toThrow(SettingsError);
    expect(() => resolveSettings({ alarm5xxPercent: 101 }, {})).toThrow(SettingsError);
  });

  it('fire on BITS function errors and throttles in two of three 5-minute periods', () => {
    const functionName = [
      { Name: 'FunctionName', Value: { Ref: logicalId(httpApi.stack.handler.function) } },
    ];
    for (const [id, metricName] of [
      ['FunctionErrors', 'Errors'],
      ['FunctionThrottles', 'Throttles'],
    ] as const) {
      expect(alarm(httpApi, id)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: metricName,
        Dimensions: functionName,
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
    }
  });

  it('fire on the first INTERNAL answer, from the BitsErrors metric of the (service, ErrorName) set', () => {
    expect(alarm(httpApi, 'InternalErrors')).toMatchObject({
      Namespace: 'BitsUpload',
      MetricName: 'BitsErrors',
      Dimensions: [{ Name: 'ErrorName', Value: 'INTERNAL' }, SERVICE],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
    });
  });

  it('fire on DynamoDB throttling of the session table or its owner index in two of three periods', () => {
    const properties = alarm(httpApi, 'TableThrottles');
    expect(properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    const table = `{"TableName":{"Ref":"${logicalId(httpApi.stack.storage.table)}"}`;
    expect(alarmInputs(properties)).toEqual({
      expr_1: 'FILL(reads, 0) + FILL(writes, 0) + FILL(indexWrites, 0)',
      reads: `AWS/DynamoDB/ReadThrottleEvents ${table}} Sum 300`,
      writes: `AWS/DynamoDB/WriteThrottleEvents ${table}} Sum 300`,
      indexWrites: `AWS/DynamoDB/WriteThrottleEvents {"GlobalSecondaryIndexName":"owner-index",${table.slice(1)}} Sum 300`,
    });
  });

  it('fire when the sweeper fails three runs in a row, one period per scheduled run', () => {
    expect(alarm(httpApi, 'SweeperErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(httpApi.stack.sweeper.function) } }],
      Statistic: 'Sum',
      Period: 900,
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  it('fire when four sweeper runs in a row each leave expired sessions unreleased', () => {
    expect(alarm(httpApi, 'StuckSessions')).toMatchObject({
      Namespace: 'BitsUpload',
      MetricName: 'ExpiredSessionsLeft',
      Dimensions: [SERVICE],
      Statistic: 'Minimum',
      Period: 900,
      Threshold: 1,
      EvaluationPeriods: 4,
      DatapointsToAlarm: 4,
    });
  });

  it('follow the sweep interval', () => {
    const synthesized = synthesize({ sweepIntervalMinutes: 30 });
    expect(alarm(synthesized, 'SweeperErrors').Period).toBe(1800);
    expect(alarm(synthesized, 'StuckSessions').Period).toBe(1800);
  });
});

describe('alarm notifications', () => {
  it('go nowhere by default: no topic, no actions', () => {
    httpApi.template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const id of ALARM_IDS) {
      expect(alarm(httpApi, id).AlarmActions).toBeUndefined();
      expect(alarm(httpApi, id).OKActions).toBeUndefined();
    }
    expect(httpApi.template.toJSON().Outputs.AlarmTopicArn).toBeUndefined();
  });

  it('go to a new TLS-only topic with the email subscribed, on ALARM and OK of every alarm', () => {
    const synthesized = synthesize({ alarmEmail: 'ops@example.com' });
    synthesized.template.resourceCountIs('AWS::SNS::Topic', 1);
    const topic = synthesized.stack.monitoring.topic;
    if (topic === undefined) throw new Error('no alarm topic');
    const topicId = logicalId(topic);
    synthesized.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: topicId },
    });
    const policies = Object.values(synthesized.template.findResources('AWS::SNS::TopicPolicy'));
    expect(policies).toHaveLength(1);
    expect(policies[0]?.Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'AllowPublishThroughSSLOnly',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
      {
        Sid: 'CloudWatchAlarms',
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: topicId },
        Condition: {
          ArnLike: {
            'aws:SourceArn': {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':cloudwatch:',
                  { Ref: 'AWS::Region' },
                  ':',
                  { Ref: 'AWS::AccountId' },
                  ':alarm:*',
                ],
              ],
            },
          },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
    for (const id of ALARM_IDS) {
      expect(alarm(synthesized, id)).toMatchObject({
        AlarmActions: [{ Ref: topicId }],
        OKActions: [{ Ref: topicId }],
      });
    }
    expect(synthesized.template.toJSON().Outputs.AlarmTopicArn.Value).toEqual({ Ref: topicId });
  });

  it('go to an existing topic given by ARN, creating none', () => {
    const synthesized = synthesize({ alarmTopicArn: TOPIC_ARN });
    synthesized.template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const id of ALARM_IDS) {
      expect(alarm(synthesized, id)).toMatchObject({ AlarmActions: [TOPIC_ARN], OKActions: [TOPIC_ARN] });
    }
    expect(synthesized.template.toJSON().Outputs.AlarmTopicArn.Value).toBe(TOPIC_ARN);
  });

  it.each([
    ['both a topic and an email', { alarmTopicArn: TOPIC_ARN, alarmEmail: 'ops@example.com' }],
    ['a FIFO topic', { alarmTopicArn: `${TOPIC_ARN}.fifo` }],
    ['a topic ARN that is not one', { alarmTopicArn: 'ops-alarms' }],
    ['an email without a domain', { alarmEmail: 'ops' }],
  ])('refuse %s', (_name, props) => {
    expect(() => resolveSettings(props, {})).toThrow(SettingsError);
  });
});

describe('dashboard', () => {
  let body: { widgets: Widget[] };
  beforeAll(() => {
    body = dashboardBody(httpApi);
  });

  it('is named after the stack and region, and shows the state of every alarm', () => {
    const dashboard = httpApi.template.toJSON().Resources[logicalId(httpApi.stack.monitoring.dashboard)];
    expect(dashboard.Properties.DashboardName).toEqual({
      'Fn::Join': ['', ['BitsUploadTest-', { Ref: 'AWS::Region' }]],
    });
    const status = body.widgets.find((widget) => widget.type === 'alarm');
    expect(status?.properties.alarms).toEqual(
      ALARM_IDS.map((id) => `@GetAtt(${logicalId(httpApi.stack.monitoring.alarms[id])}.Arn)`),
    );
    expect(httpApi.template.toJSON().Outputs.DashboardName.Value).toEqual({
      Ref: logicalId(httpApi.stack.monitoring.dashboard),
    });
  });

  it('sums requests over statuses for every packet type, from the (service, PacketType, Status) set', () => {
    const widget = body.widgets.find((candidate) => candidate.properties.title === 'Requests by packet type');
    const lines = widget?.properties.metrics ?? [];
    expect(lines).toHaveLength(PACKET_TYPES.length + 1);
    for (const packetType of [...PACKET_TYPES, 'unknown']) {
      expect(lines).toContainEqual([
        {
          expression: `SUM(SEARCH('{BitsUpload,PacketType,Status,service} MetricName="Requests" PacketType="${packetType}"', 'Sum', 300))`,
          label: packetType,
        },
      ]);
    }
  });

  it('shows errors by name and p50/p95 latency of 200 answers by packet type', () => {
    expect(graphLines(body, 'BITS errors by name').join()).toContain(
      `SEARCH('{BitsUpload,ErrorName,service} MetricName=\\"BitsErrors\\"', 'Sum', 300)`,
    );
    const latency = graphLines(body, 'Latency of 200 answers by packet type (ms)').join();
    for (const statistic of ['p50', 'p95']) {
      expect(latency).toContain(
        `SEARCH('{BitsUpload,PacketType,Status,service} MetricName=\\"Latency\\" Status=\\"200\\"', '${statistic}', 300)`,
      );
    }
  });

  it.each([
    ['Bytes', ['BytesReceived', 'BytesCommitted', 'UploadBytes']],
    ['Uploads', ['UploadsCompleted', 'UploadsCancelled', 'UploadsDiscarded']],
    ['Assembler', ['PartsUploaded', 'MergedChunks', 'CommitConflicts', 'StagedBytes', 'StagedBytesRead']],
    ['Sweeper runs', Object.keys(SWEEP_METRICS)],
  ])('graphs %s from the (service) totals', (title, names) => {
    const lines = graphLines(body, title);
    expect(lines).toHaveLength(names.length);
    names.forEach((name, index) => {
      expect(lines[index]).toMatch(new RegExp(`^\\["BitsUpload","${name}","service","bits-upload",`));
    });
  });

  it('graphs the functions, the table and the front', () => {
    const fn = `@Ref(${logicalId(httpApi.stack.handler.function)})`;
    const invocations = graphLines(body, 'BITS function invocations').join();
    for (const name of ['Invocations', 'Errors', 'Throttles']) {
      expect(invocations).toContain(`"AWS/Lambda","${name}","FunctionName","${fn}"`);
    }
    expect(graphLines(body, 'BITS function duration (ms)').join()).toContain(
      `"AWS/Lambda","Duration","FunctionName","${fn}"`,
    );
    expect(graphLines(body, 'BITS function concurrency').join()).toContain(
      `"AWS/Lambda","ConcurrentExecutions","FunctionName","${fn}"`,
    );
    const table = `"TableName","@Ref(${logicalId(httpApi.stack.storage.table)})"`;
    const capacity = graphLines(body, 'Session table capacity').join();
    expect(capacity).toContain(`"AWS/DynamoDB","ConsumedReadCapacityUnits",${table}`);
    expect(capacity).toContain(`"AWS/DynamoDB","ConsumedWriteCapacityUnits",${table}`);
    const throttles = graphLines(body, 'Session table throttle events').join();
    expect(throttles).toContain(`"AWS/DynamoDB","ReadThrottleEvents",${table}`);
    expect(throttles).toContain(`"AWS/DynamoDB","WriteThrottleEvents",${table}`);
    const answers = graphLines(body, 'Front (http-api) answers').join();
    for (const name of ['Count', '4xx', '5xx'])
      expect(answers).toContain(`"AWS/ApiGateway","${name}","ApiId"`);
    expect(graphLines(body, 'Front (http-api) latency (ms)').join()).toContain('"AWS/ApiGateway","Latency"');
    const sweeper = graphLines(body, 'Sweeper function').join();
    expect(sweeper).toContain(
      `"AWS/Lambda","Errors","FunctionName","@Ref(${logicalId(httpApi.stack.sweeper.function)})"`,
    );
  });

  it("graphs the load balancer's answers and target response time with the ALB front", () => {
    const albBody = dashboardBody(alb);
    const answers = graphLines(albBody, 'Front (alb) answers').join();
    for (const name of [
      'RequestCount',
      'HTTPCode_Target_4XX_Count',
      'HTTPCode_ELB_4XX_Count',
      'HTTPCode_Target_5XX_Count',
      'HTTPCode_ELB_5XX_Count',
    ]) {
      expect(answers).toContain(`"AWS/ApplicationELB","${name}","LoadBalancer"`);
    }
    expect(graphLines(albBody, 'Front (alb) latency (ms)').join()).toContain(
      '"AWS/ApplicationELB","TargetResponseTime"',
    );
  });
});
