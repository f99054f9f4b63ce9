import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { ALB_REPLY_PATH_PATTERN } from '../../infra/constructs/alb-front';
import { UPLOAD_EVENT_REASONS } from '../../infra/constructs/upload-events';
import { resolveSettings, SettingsError, settingsFromContext } from '../../infra/settings';
import { CONFIG_ENV } from '../../lambda/config';
import { parseReplyPath, replyUrlFor } from '../../lambda/protocol/reply';
import {
  asList,
  functionRoleStatements,
  logicalId,
  objectArn,
  roleStatements,
  type Statement,
  type Synthesized,
  synthesize,
} from './helpers';

const APPLICATION_ARN = 'arn:aws:lambda:eu-west-1:111111111111:function:bits-application:live';
const APPLICATION_URL = 'https://app.example.com/bits/notify';

// Synthesis costs seconds: one stack per configuration, shared by the tests below.
let defaults: Synthesized;
let withKms: Synthesized;
let otherPrefix: Synthesized;
let withoutConsumer: Synthesized;
let byValueFunction: Synthesized;
let byReferenceUrl: Synthesized;
beforeAll(() => {
  defaults = synthesize();
  withKms = synthesize({ kms: true, env: { region: 'eu-west-1' } });
  otherPrefix = synthesize({ keyPrefix: 'inbox/', front: 'alb' });
  withoutConsumer = synthesize({}, { context: { exampleConsumer: 'false' } });
  byValueFunction = synthesize({
    front: 'alb',
    notificationType: 'by-value',
    notificationFunctionArn: APPLICATION_ARN,
  });
  byReferenceUrl = synthesize(
    {},
    {
      context: {
        notificationType: 'by-reference',
        notificationUrl: APPLICATION_URL,
        replyPrefix: 'replies/',
        versioned: 'true',
      },
    },
  );
}, 60_000);

function consumerOf(synthesized: Synthesized) {
  const consumer = synthesized.stack.uploadEvents.consumer;
  if (consumer === undefined) throw new Error('the example consumer was not created');
  return consumer;
}

const resourceOf = (synthesized: Synthesized, id: string) => synthesized.template.toJSON().Resources[id];
const getAtt = (id: string, attribute = 'Arn') => ({ 'Fn::GetAtt': [id, attribute] });

describe('finished-upload rule', () => {
  it('matches S3 Object Created events of the upload bucket under the key prefix, from Complete and PutObject only', () => {
    const rule = resourceOf(defaults, logicalId(defaults.stack.uploadEvents.rule));
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.s3'],
      'detail-type': ['Object Created'],
      detail: {
        bucket: { name: [{ Ref: logicalId(defaults.stack.storage.bucket) }] },
        object: { key: [{ prefix: 'uploads/' }] },
        reason: ['CompleteMultipartUpload', 'PutObject'],
      },
    });
    expect(UPLOAD_EVENT_REASONS).toEqual(['CompleteMultipartUpload', 'PutObject']);
  });

  it('follows the keyPrefix setting', () => {
    const rule = resourceOf(otherPrefix, logicalId(otherPrefix.stack.uploadEvents.rule));
    expect(rule.Properties.EventPattern.detail.object).toEqual({ key: [{ prefix: 'inbox/' }] });
  });

  it('relies on the bucket sending its events to EventBridge', () => {
    const bucket = resourceOf(defaults, logicalId(defaults.stack.storage.bucket));
    expect(bucket.Properties.NotificationConfiguration).toEqual({
      EventBridgeConfiguration: { EventBridgeEnabled: true },
    });
  });

  it('targets the consumer, retrying delivery for a day before the dead-letter queue gets the event', () => {
    const consumer = consumerOf(defaults);
    const rule = resourceOf(defaults, logicalId(defaults.stack.uploadEvents.rule));
    expect(rule.Properties.Targets).toEqual([
      {
        Id: 'Target0',
        Arn: getAtt(logicalId(consumer.function)),
        DeadLetterConfig: { Arn: getAtt(logicalId(consumer.deadLetterQueue)) },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
      },
    ]);
  });

  it('lets only this rule invoke the consumer', () => {
    const consumer = consumerOf(defaults);
    const permissions = Object.values(defaults.template.findResources('AWS::Lambda::Permission')).filter(
      (permission) =>
        JSON.stringify(permission.Properties.FunctionName) ===
        JSON.stringify(getAtt(logicalId(consumer.function))),
    );
    expect(permissions.map((permission) => permission.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: getAtt(logicalId(consumer.function)),
        Principal: 'events.amazonaws.com',
        SourceArn: getAtt(logicalId(defaults.stack.uploadEvents.rule)),
      },
    ]);
  });

  it('stays, without targets, when exampleConsumer=false (the contract users attach their own targets to)', () => {
    const { uploadEvents } = withoutConsumer.stack;
    expect(uploadEvents.consumer).toBeUndefined();
    const rule = resourceOf(withoutConsumer, logicalId(uploadEvents.rule));
    expect(rule.Properties.Targets).toBeUndefined();
    expect(rule.Properties.EventPattern.detail.reason).toEqual(['CompleteMultipartUpload', 'PutObject']);
    const functions = Object.values(withoutConsumer.template.findResources('AWS::Lambda::Function'));
    expect(functions.filter((fn) => String(fn.Properties.Description).includes('example consumer'))).toEqual(
      [],
    );
    const queues = Object.keys(withoutConsumer.template.findResources('AWS::SQS::Queue'));
    expect(queues.filter((id) => id.startsWith('UploadEvents'))).toEqual([]);
  });
});

describe('example consumer', () => {
  it('runs nodejs22.x on arm64 with its own log group', () => {
    const consumer = consumerOf(defaults);
    const fn = resourceOf(defaults, logicalId(consumer.function));
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 30,
      LoggingConfig: { LogGroup: { Ref: logicalId(consumer.logGroup) } },
    });
    expect(resourceOf(defaults, logicalId(consumer.logGroup)).Properties.RetentionInDays).toBe(365);
  });

  it('retries a failed invocation twice, then sends the event to the dead-letter queue', () => {
    const consumer = consumerOf(defaults);
    defaults.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(consumer.function) },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 6 * 3600,
      DestinationConfig: { OnFailure: { Destination: getAtt(logicalId(consumer.deadLetterQueue)) } },
    });
  });

  it('keeps dead letters 14 days in an encrypted, TLS-only queue that only this rule and the consumer write to', () => {
    const consumer = consumerOf(defaults);
    const queueId = logicalId(consumer.deadLetterQueue);
    expect(resourceOf(defaults, queueId).Properties).toEqual({
      MessageRetentionPeriod: 14 * 86_400,
      SqsManagedSseEnabled: true,
    });
    const policy = Object.values(defaults.template.findResources('AWS::SQS::QueuePolicy')).find(
      (candidate) => JSON.stringify(candidate.Properties.Queues) === JSON.stringify([{ Ref: queueId }]),
    );
    const statements = policy?.Properties.PolicyDocument.Statement as Statement[];
    expect(statements).toHaveLength(2);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Action: 'sqs:SendMessage',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': getAtt(logicalId(defaults.stack.uploadEvents.rule)) } },
      }),
    );
  });
});

describe('example consumer permissions', () => {
  const s3Actions = (statements: Statement[]) =>
    statements.filter((statement) => asList(statement.Action).some((action) => action.startsWith('s3:')));

  it('may only s3:GetObject under the key prefix: no write, no delete, no listing, no other prefix', () => {
    const statements = roleStatements(defaults, consumerOf(defaults).role);
    expect(s3Actions(statements)).toEqual([
      {
        Sid: 'ReadUploads',
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: objectArn(logicalId(defaults.stack.storage.bucket), '/uploads/*'),
      },
    ]);
  });

  it('reads under the configured key prefix', () => {
    const statements = roleStatements(otherPrefix, consumerOf(otherPrefix).role);
    expect(s3Actions(statements).map((statement) => statement.Resource)).toEqual([
      objectArn(logicalId(otherPrefix.stack.storage.bucket), '/inbox/*'),
    ]);
  });

  it('otherwise only writes its own logs and sends to its own dead-letter queue', () => {
    const consumer = consumerOf(defaults);
    const others = roleStatements(defaults, consumer.role).filter(
      (statement) => statement.Sid !== 'ReadUploads',
    );
    expect(others).toEqual([
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: getAtt(logicalId(consumer.logGroup)),
      },
      {
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: getAtt(logicalId(consumer.deadLetterQueue)),
      },
    ]);
    const role = resourceOf(defaults, logicalId(consumer.role));
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('with kms=true also decrypts with the bucket key, through S3 only (checksums and bodies of SSE-KMS objects)', () => {
    const statements = roleStatements(withKms, consumerOf(withKms).role);
    const kms = statements.filter((statement) =>
      asList(statement.Action).some((action) => action.startsWith('kms:')),
    );
    expect(kms).toEqual([
      {
        Sid: 'DecryptUploads',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: getAtt(logicalId(withKms.stack.node.findChild('Key'))),
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['s3.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
          },
        },
      },
    ]);
    expect(
      roleStatements(defaults, consumerOf(defaults).role).map((statement) => statement.Sid),
    ).not.toContain('DecryptUploads');
  });
});

describe('notification grants of the BITS function', () => {
  const bySid = (statements: Statement[], sid: string) =>
    statements.filter((statement) => statement.Sid === sid);
  const actionsOf = (statements: Statement[]) => statements.flatMap((statement) => asList(statement.Action));
  const variablesOf = (synthesized: Synthesized): Record<string, unknown> =>
    resourceOf(synthesized, logicalId(synthesized.stack.handler.function)).Properties.Environment.Variables;

  it('are absent with notifications off (the default): no reply objects, no Lambda invoke', () => {
    for (const synthesized of [defaults, otherPrefix]) {
      const statements = functionRoleStatements(synthesized);
      expect(bySid(statements, 'ServeReplies')).toEqual([]);
      expect(actionsOf(statements).filter((action) => action.startsWith('lambda:'))).toEqual([]);
      expect(JSON.stringify(statements)).not.toContain('bits-replies/');
    }
    const variables = variablesOf(defaults);
    expect(variables[CONFIG_ENV.notificationType]).toBe('none');
    expect(variables[CONFIG_ENV.notificationUrl]).toBeUndefined();
    expect(variables[CONFIG_ENV.notificationFunction]).toBeUndefined();
    expect(variables[CONFIG_ENV.replyPrefix]).toBe('bits-replies/');
  });

  it('with a function as the application: invoke exactly that ARN, and read, write and delete replies', () => {
    const statements = functionRoleStatements(byValueFunction);
    expect(bySid(statements, 'NotifyApplication')).toEqual([
      {
        Sid: 'NotifyApplication',
        Effect: 'Allow',
        Action: 'lambda:InvokeFunction',
        Resource: APPLICATION_ARN,
      },
    ]);
    expect(actionsOf(statements).filter((action) => action.startsWith('lambda:'))).toEqual([
      'lambda:InvokeFunction',
    ]);
    const [replies] = bySid(statements, 'ServeReplies');
    expect(asList(replies?.Action).sort()).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(replies?.Resource).toEqual(
      objectArn(logicalId(byValueFunction.stack.storage.bucket), '/bits-replies/*'),
    );
    expect(variablesOf(byValueFunction)).toMatchObject({
      [CONFIG_ENV.notificationType]: 'by-value',
      [CONFIG_ENV.notificationFunction]: APPLICATION_ARN,
      [CONFIG_ENV.notificationTimeoutSeconds]: '20',
      [CONFIG_ENV.replyPrefix]: 'bits-replies/',
    });
    expect(variablesOf(byValueFunction)[CONFIG_ENV.notificationUrl]).toBeUndefined();
  });

  it('with a URL as the application: replies under the configured prefix, no Lambda invoke', () => {
    const statements = functionRoleStatements(byReferenceUrl);
    const [replies] = bySid(statements, 'ServeReplies');
    expect(replies?.Resource).toEqual(
      objectArn(logicalId(byReferenceUrl.stack.storage.bucket), '/replies/*'),
    );
    expect(actionsOf(statements).filter((action) => action.startsWith('lambda:'))).toEqual([]);
    expect(variablesOf(byReferenceUrl)).toMatchObject({
      [CONFIG_ENV.notificationType]: 'by-reference',
      [CONFIG_ENV.notificationUrl]: APPLICATION_URL,
      [CONFIG_ENV.replyPrefix]: 'replies/',
    });
    expect(variablesOf(byReferenceUrl)[CONFIG_ENV.notificationFunction]).toBeUndefined();
  });

  it('keep s3:GetObject on the key prefix, which the presigned by-reference GET of the upload uses', () => {
    const [destination] = bySid(functionRoleStatements(byReferenceUrl), 'WriteDestinationObjects');
    expect(asList(destination?.Action)).toContain('s3:GetObject');
    expect(destination?.Resource).toEqual(
      objectArn(logicalId(byReferenceUrl.stack.storage.bucket), '/uploads/*'),
    );
  });
});

describe('notification settings', () => {
  it.each([
    ['a type without an application', { notificationType: 'by-value' as const }, /exactly one of/],
    [
      'both a URL and a function',
      {
        notificationType: 'by-value' as const,
        notificationUrl: APPLICATION_URL,
        notificationFunctionArn: APPLICATION_ARN,
      },
      /exactly one of/,
    ],
    ['an application without a type', { notificationUrl: APPLICATION_URL }, /go with notificationType/],
    [
      'a URL that is not http(s)',
      { notificationType: 'by-reference' as const, notificationUrl: 'ftp://app.example.com/' },
      /http or https URL/,
    ],
    [
      'a URL longer than 2,200 characters',
      {
        notificationType: 'by-reference' as const,
        notificationUrl: `https://app.example.com/${'a'.repeat(2200)}`,
      },
      /at most 2200 characters/,
    ],
    [
      'a function name instead of an ARN',
      { notificationType: 'by-value' as const, notificationFunctionArn: 'bits-app' },
      /must be a Lambda function ARN/,
    ],
    [
      'a timeout beyond 25 seconds',
      {
        notificationType: 'by-value' as const,
        notificationFunctionArn: APPLICATION_ARN,
        notificationTimeoutSeconds: 26,
      },
      /BITS_NOTIFICATION_TIMEOUT_SECONDS/,
    ],
    ['a reply prefix inside the key prefix', { replyPrefix: 'uploads/replies/' }, /BITS_REPLY_PREFIX/],
  ])('refuses %s', (_name, props, message) => {
    expect(() => resolveSettings(props, {})).toThrow(SettingsError);
    expect(() => resolveSettings(props, {})).toThrow(message);
  });

  it('accepts an unqualified function ARN and reads the settings from context strings', () => {
    const context = settingsFromContext(
      new App({
        context: {
          notificationType: 'by-value',
          notificationFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:bits-application',
          notificationTimeoutSeconds: '10',
          replyPrefix: 'replies/',
        },
      }).node,
    );
    const settings = resolveSettings({}, context);
    expect(settings.config).toMatchObject({
      notificationType: 'by-value',
      notificationFunction: 'arn:aws:lambda:eu-west-1:111111111111:function:bits-application',
      notificationTimeoutSeconds: 10,
      replyPrefix: 'replies/',
    });
  });
});

describe('replies', () => {
  const rulesOf = (synthesized: Synthesized) =>
    resourceOf(synthesized, logicalId(synthesized.stack.storage.bucket)).Properties.LifecycleConfiguration
      .Rules as Record<string, unknown>[];

  it('expire under the reply prefix after the same days as staged chunks by default, even with notifications off', () => {
    expect(defaults.stack.settings.replyLifecycleDays).toBe(defaults.stack.settings.lifecycleDays);
    expect(rulesOf(defaults)).toContainEqual({
      Id: 'expire-replies',
      Prefix: 'bits-replies/',
      ExpirationInDays: defaults.stack.settings.replyLifecycleDays,
      Status: 'Enabled',
    });
    expect(rulesOf(byReferenceUrl)).toContainEqual({
      Id: 'expire-replies',
      Prefix: 'replies/',
      ExpirationInDays: 31,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      Status: 'Enabled',
    });
  });

  it('outlast a session timeout longer than the maximum session age: a reply lives a session timeout after Complete', () => {
    const settings = resolveSettings(
      { sessionTimeoutSeconds: 60 * 86_400, maxSessionAgeSeconds: 30 * 86_400 },
      {},
    );
    expect(settings.lifecycleDays).toBe(31);
    expect(settings.replyLifecycleDays).toBe(61);
    const long = synthesize({ sessionTimeoutSeconds: 60 * 86_400, maxSessionAgeSeconds: 30 * 86_400 });
    expect(rulesOf(long)).toContainEqual({
      Id: 'expire-replies',
      Prefix: 'bits-replies/',
      ExpirationInDays: 61,
      Status: 'Enabled',
    });
  });

  it('are downloaded through the http-api $default route, which leads every method to the function', () => {
    const routes = Object.values(byReferenceUrl.template.findResources('AWS::ApiGatewayV2::Route'));
    const integrations = byReferenceUrl.template.findResources('AWS::ApiGatewayV2::Integration');
    const [integrationId, integration] = Object.entries(integrations)[0] ?? [];
    expect(Object.keys(integrations)).toHaveLength(1);
    expect(integration?.Properties.IntegrationUri).toEqual(
      getAtt(logicalId(byReferenceUrl.stack.handler.function)),
    );
    const defaultRoute = routes.find((route) => route.Properties.RouteKey === '$default');
    expect(defaultRoute?.Properties.Target).toEqual({
      'Fn::Join': ['', ['integrations/', { Ref: integrationId }]],
    });
    // No route claims GET or HEAD for itself.
    expect(
      routes.map((route) => route.Properties.RouteKey).filter((key) => /^(GET|HEAD|ANY) /.test(key)),
    ).toEqual([]);
  });

  it('are forwarded by the alb for GET and HEAD on reply URLs to the function, when notifications are on', () => {
    const handlerArn = getAtt(logicalId(byValueFunction.stack.handler.function));
    const groups = byValueFunction.template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup');
    const [groupId] = Object.entries(groups).find(
      ([, group]) => JSON.stringify(group.Properties.Targets) === JSON.stringify([{ Id: handlerArn }]),
    ) ?? [''];
    byValueFunction.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Priority: 20,
      Conditions: Match.arrayEquals([
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET', 'HEAD'] } },
        {
          Field: 'path-pattern',
          PathPatternConfig: { Values: ['*/BITS-Sessions/Replies/*/responsefile.bin'] },
        },
      ]),
      Actions: [Match.objectLike({ Type: 'forward', TargetGroupArn: { Ref: groupId } })],
    });
  });

  it('are not forwarded by the alb with notifications off: every GET keeps the fixed 404', () => {
    const rules = Object.values(
      otherPrefix.template.findResources('AWS::ElasticLoadBalancingV2::ListenerRule'),
    );
    expect(JSON.stringify(rules)).not.toMatch(/"GET"|path-pattern/);
  });

  it('match the alb path pattern wherever the client resolves the reply URL the function hands out', () => {
    // ALB path patterns: `*` is any run of characters, `/` included; everything else is literal.
    const pattern = new RegExp(
      `^${ALB_REPLY_PATH_PATTERN.split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    const sessionId = '{E2A2CC97-771C-4297-899E-16614BA6C689}';
    for (const directory of ['/', '/reports/2026/']) {
      const path = `${directory}${replyUrlFor(sessionId)}`;
      expect(path).toMatch(pattern);
      expect(parseReplyPath(path)).toBe(sessionId);
    }
    expect('/reports/q3.pdf').not.toMatch(pattern);
  });
});
