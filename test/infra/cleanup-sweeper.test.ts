import { Match } from 'aws-cdk-lib/assertions';
import { resolveSettings, SettingsError } from '../../infra/settings';
import { SWEEPER_ENV } from '../../lambda/cleanup/sweeper-config';
import { CONFIG_ENV } from '../../lambda/config';
import { TRACING_ENV } from '../../lambda/observability/tracing';
import {
  asList,
  logicalId,
  objectArn,
  roleStatements,
  type Statement,
  type Synthesized,
  synthesize,
} from './helpers';

const REGION = 'eu-west-1';

/** The sweeper's function resource. */
function sweeperFunction(synthesized: Synthesized): { Properties: Record<string, unknown> } {
  return synthesized.template.toJSON().Resources[logicalId(synthesized.stack.sweeper.function)];
}

/** The sweeper role's statements as comparable values: sid, sorted actions, resources. */
function sweeperStatements(synthesized: Synthesized) {
  return roleStatements(synthesized, synthesized.stack.sweeper.role).map((statement: Statement) => ({
    Sid: statement.Sid,
    Effect: statement.Effect,
    Action: asList(statement.Action).sort(),
    Resource: asList(statement.Resource),
  }));
}

let defaults: Synthesized;
beforeAll(() => {
  defaults = synthesize();
}, 60_000);

describe('the abandoned-session sweeper function', () => {
  it('is a Node.js 22 arm64 function with 256 MB, a 5-minute timeout and reserved concurrency 1', () => {
    expect(sweeperFunction(defaults).Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 256,
      Timeout: 300,
      ReservedConcurrentExecutions: 1,
      Role: { 'Fn::GetAtt': [logicalId(defaults.stack.sweeper.role), 'Arn'] },
      LoggingConfig: { LogGroup: { Ref: logicalId(defaults.stack.sweeper.logGroup) } },
    });
    defaults.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  it("loads the BITS function's settings, the real table and bucket names, and its own grace period", () => {
    const variables = (
      sweeperFunction(defaults).Properties.Environment as { Variables: Record<string, unknown> }
    ).Variables;
    // The Config the BITS function loads: its settings, and the real table and bucket.
    expect(Object.keys(defaults.stack.settings.functionEnvironment)).toContain(CONFIG_ENV.tombstoneSeconds);
    expect(variables).toEqual({
      ...defaults.stack.settings.functionEnvironment,
      [CONFIG_ENV.tableName]: { Ref: logicalId(defaults.stack.storage.table) },
      [CONFIG_ENV.bucketName]: { Ref: logicalId(defaults.stack.storage.bucket) },
      [SWEEPER_ENV.graceSeconds]: '300',
      NODE_OPTIONS: '--enable-source-maps',
    });
    expect(Object.keys(variables)).not.toContain(TRACING_ENV);
  });

  it('runs every 15 minutes on an EventBridge schedule, with no retries by EventBridge or Lambda', () => {
    const functionId = logicalId(defaults.stack.sweeper.function);
    defaults.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [functionId, 'Arn'] },
          Id: Match.anyValue(),
          RetryPolicy: { MaximumRetryAttempts: 0 },
        },
      ],
    });
    defaults.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: functionId },
      MaximumRetryAttempts: 0,
      Qualifier: '$LATEST',
    });
    defaults.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [logicalId(defaults.stack.sweeper.schedule), 'Arn'] },
    });
  });

  it('publishes its function name', () => {
    expect(defaults.template.toJSON().Outputs.SweeperFunctionName.Value).toEqual({
      Ref: logicalId(defaults.stack.sweeper.function),
    });
  });
});

describe('the sweeper role', () => {
  it('holds exactly the calls a sweep makes, each on the narrowest resource', () => {
    const table = { 'Fn::GetAtt': [logicalId(defaults.stack.storage.table), 'Arn'] };
    const bucketId = logicalId(defaults.stack.storage.bucket);
    expect(sweeperStatements(defaults)).toEqual([
      {
        Sid: undefined,
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [{ 'Fn::GetAtt': [logicalId(defaults.stack.sweeper.logGroup), 'Arn'] }],
      },
      {
        Sid: 'SweepSessionTable',
        Effect: 'Allow',
        Action: [
          'dynamodb:BatchWriteItem',
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:Query',
          'dynamodb:Scan',
          'dynamodb:UpdateItem',
        ],
        // The table itself: no index, no stream.
        Resource: [table],
      },
      {
        Sid: 'ReleaseUploads',
        Effect: 'Allow',
        Action: ['s3:AbortMultipartUpload', 's3:GetObject'],
        Resource: [objectArn(bucketId, '/uploads/*')],
      },
      {
        Sid: 'DeleteSessionObjects',
        Effect: 'Allow',
        Action: ['s3:DeleteObject'],
        Resource: [objectArn(bucketId, '/bits-replies/*'), objectArn(bucketId, '/bits-staging/*')],
      },
      {
        Sid: 'ListBucket',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [{ 'Fn::GetAtt': [bucketId, 'Arn'] }],
      },
    ]);
  });

  it('can neither write objects nor create items, and deletes nothing under the key prefix', () => {
    const statements = sweeperStatements(defaults);
    const actions = statements.flatMap((statement) => statement.Action);
    for (const forbidden of [
      's3:PutObject',
      'dynamodb:PutItem',
      'dynamodb:BatchGetItem',
      's3:*',
      'dynamodb:*',
    ]) {
      expect(actions).not.toContain(forbidden);
    }
    const deletes = statements.filter((statement) => statement.Action.includes('s3:DeleteObject'));
    expect(JSON.stringify(deletes)).not.toContain('/uploads/');
    expect(JSON.stringify(statements)).not.toContain('"*"');
  });

  it('follows the configured prefixes', () => {
    const synthesized = synthesize({ keyPrefix: 'in/', stagingPrefix: 'tmp/', replyPrefix: 'answers/' });
    const bucketId = logicalId(synthesized.stack.storage.bucket);
    const resources = sweeperStatements(synthesized).flatMap((statement) => statement.Resource);
    expect(resources).toEqual(
      expect.arrayContaining([
        objectArn(bucketId, '/in/*'),
        objectArn(bucketId, '/tmp/*'),
        objectArn(bucketId, '/answers/*'),
      ]),
    );
    expect(JSON.stringify(resources)).not.toMatch(/uploads\/|bits-staging\/|bits-replies\//);
  });

  it("uses the stack's customer-managed key, and only that key, when there is one", () => {
    const synthesized = synthesize({ kms: true, env: { region: REGION } });
    const keyUse = sweeperStatements(synthesized).filter((statement) =>
      statement.Action.some((action) => action.startsWith('kms:')),
    );
    expect(keyUse).toEqual([
      {
        Sid: 'UseStackKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
        Resource: [{ 'Fn::GetAtt': [logicalId(synthesized.stack.node.findChild('Key')), 'Arn'] }],
      },
    ]);
  });
});

describe('sweeper settings', () => {
  it('turns the interval and the grace period into the schedule and BITS_SWEEP_GRACE_SECONDS', () => {
    const synthesized = synthesize({ sweepIntervalMinutes: 60, sweepGraceSeconds: 600 });
    synthesized.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    expect(sweeperFunction(synthesized).Properties.Environment).toMatchObject({
      Variables: { [SWEEPER_ENV.graceSeconds]: '600' },
    });
  });

  it('reads them from context', () => {
    expect(resolveSettings({}, { sweepIntervalMinutes: 5, sweepGraceSeconds: 120 }).sweeper).toEqual({
      intervalMinutes: 5,
      graceSeconds: 120,
      environment: { [SWEEPER_ENV.graceSeconds]: '120' },
    });
  });

  it.each([
    ['a zero interval', { sweepIntervalMinutes: 0 }],
    ['an interval past the alarm window (6 hours)', { sweepIntervalMinutes: 361 }],
    ["a grace period within the function's 29-s timeout", { sweepGraceSeconds: 29 }],
  ])('refuses %s', (_name, props) => {
    expect(() => resolveSettings(props, {})).toThrow(SettingsError);
  });
});

describe('tracing', () => {
  it('switches X-Ray active tracing and Powertools Tracer on for both functions', () => {
    const synthesized = synthesize({ tracing: true });
    for (const fn of [synthesized.stack.handler.function, synthesized.stack.sweeper.function]) {
      const properties = synthesized.template.toJSON().Resources[logicalId(fn)].Properties;
      expect(properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(properties.Environment.Variables[TRACING_ENV]).toBe('true');
    }
    const xray = sweeperStatements(synthesized).filter((statement) => statement.Resource.includes('*'));
    expect(xray.flatMap((statement) => statement.Action)).toEqual([
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('leaves both off by default: no tracing config, no tracer variable, no X-Ray grant', () => {
    for (const fn of [defaults.stack.handler.function, defaults.stack.sweeper.function]) {
      const properties = defaults.template.toJSON().Resources[logicalId(fn)].Properties;
      expect(properties.TracingConfig).toBeUndefined();
      expect(Object.keys(properties.Environment.Variables)).not.toContain(TRACING_ENV);
    }
    expect(JSON.stringify(defaults.template.findResources('AWS::IAM::Policy'))).not.toContain('xray:');
  });
});
