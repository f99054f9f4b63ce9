import { Match } from 'aws-cdk-lib/assertions';
import { ALB_FORWARDED_METHODS } from '../../infra/constructs/alb-front';
import { ALB_MAX_FRAGMENT_SIZE, FUNCTION_TIMEOUT_SECONDS } from '../../infra/settings';
import { CONFIG_ENV, DEFAULT_MAX_FRAGMENT_SIZE } from '../../lambda/config';
import {
  asList,
  functionRoleStatements,
  logicalId,
  objectArn,
  type Statement,
  type Synthesized,
  synthesize,
} from './helpers';

// One synthesized stack per front, shared by every test in this file (synthesis costs seconds).
let httpApi: Synthesized;
let alb: Synthesized;
beforeAll(() => {
  httpApi = synthesize();
  alb = synthesize({ front: 'alb' });
}, 60_000);

const FRONTS = ['http-api', 'alb'] as const;
const synthesizedFor = (front: (typeof FRONTS)[number]): Synthesized => (front === 'alb' ? alb : httpApi);

describe('upload bucket', () => {
  it('blocks public access, encrypts with S3-managed keys, enforces bucket-owner objects and sends EventBridge events', () => {
    httpApi.template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
      VersioningConfiguration: Match.absent(),
    });
  });

  it('aborts incomplete multipart uploads and expires staged chunks a day after the maximum session age', () => {
    // Default maximum session age 30 days + 1 day margin.
    const bucketId = logicalId(httpApi.stack.storage.bucket);
    const bucket = httpApi.template.toJSON().Resources[bucketId];
    const rules = bucket.Properties.LifecycleConfiguration.Rules as Record<string, unknown>[];
    // The abort rule covers the whole bucket: every multipart upload is ours.
    expect(rules).toContainEqual({
      Id: 'abort-incomplete-multipart-uploads',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 31 },
      Status: 'Enabled',
    });
    expect(rules).toContainEqual({
      Id: 'expire-staged-chunks',
      Prefix: 'bits-staging/',
      ExpirationInDays: 31,
      Status: 'Enabled',
    });
    // Upload-reply replies (test/infra/upload-events.test.ts).
    expect(rules).toContainEqual({
      Id: 'expire-replies',
      Prefix: 'bits-replies/',
      ExpirationInDays: 31,
      Status: 'Enabled',
    });
    expect(rules).toHaveLength(3);
  });

  it('writes server access logs to a separate logs bucket and is retained when the stack is deleted', () => {
    const bucketId = logicalId(httpApi.stack.storage.bucket);
    const bucket = httpApi.template.toJSON().Resources[bucketId];
    expect(bucket.DeletionPolicy).toBe('Retain');
    const logsBucketId = bucket.Properties.LoggingConfiguration.DestinationBucketName.Ref as string;
    expect(logsBucketId).not.toBe(bucketId);
    const logsBucket = httpApi.template.toJSON().Resources[logsBucketId];
    expect(logsBucket.Properties).toMatchObject({
      LifecycleConfiguration: { Rules: [{ ExpirationInDays: 365, Status: 'Enabled' }] },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
    });
  });

  it('denies every request that does not use TLS', () => {
    httpApi.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(httpApi.stack.storage.bucket) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('session table', () => {
  it('has string pk/sk keys, on-demand billing, TTL on "ttl", point-in-time recovery and deletion protection', () => {
    httpApi.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
      // SSE disabled in CloudFormation terms means the AWS-owned key (DynamoDB always encrypts).
      SSESpecification: { SSEEnabled: false },
    });
  });

  it('is retained when the stack is deleted', () => {
    const table = httpApi.template.toJSON().Resources[logicalId(httpApi.stack.storage.table)];
    expect(table.DeletionPolicy).toBe('Retain');
  });
});

describe('function', () => {
  it.each(FRONTS)('runs nodejs22.x on arm64 within the front timeout (%s)', (front) => {
    synthesizedFor(front).template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: FUNCTION_TIMEOUT_SECONDS,
    });
    expect(FUNCTION_TIMEOUT_SECONDS).toBeLessThan(30);
  });

  it('gets table and bucket names from the resources and every CONFIG_ENV setting', () => {
    const fn = httpApi.template.toJSON().Resources[logicalId(httpApi.stack.handler.function)];
    const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
    // The Basic users parameter is set only with authMode=basic (test/infra/auth.test.ts), the
    // notified application only with notifications on (test/infra/upload-events.test.ts).
    const unset: string[] = [
      CONFIG_ENV.authParameter,
      CONFIG_ENV.notificationUrl,
      CONFIG_ENV.notificationFunction,
    ];
    const expected = Object.values(CONFIG_ENV).filter((name) => !unset.includes(name));
    expect(Object.keys(variables).sort()).toEqual([...expected, 'NODE_OPTIONS'].sort());
    expect(variables[CONFIG_ENV.tableName]).toEqual({ Ref: logicalId(httpApi.stack.storage.table) });
    expect(variables[CONFIG_ENV.bucketName]).toEqual({ Ref: logicalId(httpApi.stack.storage.bucket) });
    expect(variables).toMatchObject({
      [CONFIG_ENV.keyPrefix]: 'uploads/',
      [CONFIG_ENV.stagingPrefix]: 'bits-staging/',
      [CONFIG_ENV.maxFragmentSize]: String(DEFAULT_MAX_FRAGMENT_SIZE),
      [CONFIG_ENV.sessionTimeoutSeconds]: String(14 * 24 * 3600),
      [CONFIG_ENV.allowOverwrites]: 'false',
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  it('logs to its own log group with a retention period', () => {
    const fn = httpApi.template.toJSON().Resources[logicalId(httpApi.stack.handler.function)];
    const logGroupId = logicalId(httpApi.stack.handler.logGroup);
    expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: logGroupId } });
    httpApi.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  it('caps fragments so the ALB body limit holds even if the ALB counts base64 bytes', () => {
    const fn = alb.template.toJSON().Resources[logicalId(alb.stack.handler.function)];
    expect(fn.Properties.Environment.Variables[CONFIG_ENV.maxFragmentSize]).toBe(
      String(ALB_MAX_FRAGMENT_SIZE),
    );
    expect(Math.ceil(ALB_MAX_FRAGMENT_SIZE / 3) * 4).toBeLessThan(1_000_000);
  });
});

describe('function permissions', () => {
  let statements: Statement[];
  let bucketId: string;
  beforeAll(() => {
    statements = functionRoleStatements(httpApi);
    bucketId = logicalId(httpApi.stack.storage.bucket);
  });

  const statementFor = (sid: string): Statement => {
    const found = statements.find((statement) => statement.Sid === sid);
    if (found === undefined) throw new Error(`no statement ${sid} in ${JSON.stringify(statements)}`);
    return found;
  };

  it('uses no AWS managed policy', () => {
    const role = httpApi.template.toJSON().Resources[logicalId(httpApi.stack.handler.role)];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('has no wildcard service actions and no "*" resource', () => {
    for (const statement of statements) {
      for (const action of asList(statement.Action)) expect(action).not.toMatch(/^[a-z0-9-]+:\*$/);
      expect(asList(statement.Resource)).not.toContain('*');
    }
  });

  it('writes, reads (HeadObject) and aborts uploads under the key prefix, and never deletes there', () => {
    const statement = statementFor('WriteDestinationObjects');
    expect(asList(statement.Action).sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:PutObject',
    ]);
    expect(statement.Resource).toEqual(objectArn(bucketId, '/uploads/*'));
  });

  it('puts, gets and deletes staged chunks under the staging prefix only', () => {
    const statement = statementFor('StageChunks');
    expect(asList(statement.Action).sort()).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:PutObject']);
    expect(statement.Resource).toEqual(objectArn(bucketId, '/bits-staging/*'));
  });

  it('lists this bucket only (staging cleanup, and 404 rather than 403 from HeadObject)', () => {
    const statement = statementFor('ListBucket');
    expect(statement.Action).toBe('s3:ListBucket');
    expect(statement.Resource).toEqual({ 'Fn::GetAtt': [bucketId, 'Arn'] });
  });

  it('grants every S3 action through one of those three statements', () => {
    const s3Statements = statements.filter((statement) =>
      asList(statement.Action).some((action) => action.startsWith('s3:')),
    );
    expect(s3Statements.map((statement) => statement.Sid).sort()).toEqual([
      'ListBucket',
      'StageChunks',
      'WriteDestinationObjects',
    ]);
  });

  it('reads and writes the session table, queries its owner index, and nothing else in DynamoDB', () => {
    const tableArn = { 'Fn::GetAtt': [logicalId(httpApi.stack.storage.table), 'Arn'] };
    const dynamo = statements.filter((statement) =>
      asList(statement.Action).some((action) => action.startsWith('dynamodb:')),
    );
    expect(dynamo).toHaveLength(2);
    expect(statementFor('CountOpenSessions')).toMatchObject({
      Action: 'dynamodb:Query',
      Resource: { 'Fn::Join': ['', [tableArn, '/index/owner-index']] },
    });
    const items = dynamo.filter((statement) => statement.Sid !== 'CountOpenSessions');
    expect(items[0]?.Resource).toEqual(tableArn);
    expect(asList(items[0]?.Action)).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:Query',
        'dynamodb:BatchWriteItem',
      ]),
    );
  });

  it('writes logs to its own log group only', () => {
    const logs = statements.filter((statement) =>
      asList(statement.Action).some((action) => action.startsWith('logs:')),
    );
    expect(logs).toHaveLength(1);
    expect(asList(logs[0]?.Action).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(logs[0]?.Resource).toEqual({ 'Fn::GetAtt': [logicalId(httpApi.stack.handler.logGroup), 'Arn'] });
  });
});

describe('http-api front', () => {
  it('routes both "$default" and "BITS_POST /{proxy+}" to the same Lambda integration', () => {
    const routes = httpApi.template.findResources('AWS::ApiGatewayV2::Route');
    const byKey = Object.fromEntries(
      Object.values(routes).map((route) => [route.Properties.RouteKey, route.Properties.Target]),
    );
    expect(Object.keys(byKey).sort()).toEqual(['$default', 'BITS_POST /{proxy+}']);
    expect(byKey['BITS_POST /{proxy+}']).toEqual(byKey.$default);

    const integrations = httpApi.template.findResources('AWS::ApiGatewayV2::Integration');
    const [integrationId, integration] = Object.entries(integrations)[0] ?? [];
    expect(Object.keys(integrations)).toHaveLength(1);
    expect(byKey.$default).toEqual({ 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] });
    expect(integration?.Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(httpApi.stack.handler.function), 'Arn'] },
    });
  });

  it('lets API Gateway invoke the function for every route and stage of this API only', () => {
    httpApi.template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'apigateway.amazonaws.com',
      SourceArn: {
        'Fn::Join': ['', Match.arrayWith([{ Ref: Match.stringLikeRegexp('HttpApi') }, '/*/*'])],
      },
    });
  });

  it('throttles and access-logs the auto-deployed $default stage', () => {
    httpApi.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('AccessLogs'), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.httpMethod'),
      },
    });
  });

  it('creates no load balancer and no VPC', () => {
    httpApi.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 0);
    httpApi.template.resourceCountIs('AWS::EC2::VPC', 0);
  });
});

describe('alb front', () => {
  it('forwards BITS_POST and POST to the function through a Lambda target group', () => {
    expect(ALB_FORWARDED_METHODS).toEqual(['BITS_POST', 'POST']);
    alb.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'lambda',
      Targets: [{ Id: { 'Fn::GetAtt': [logicalId(alb.stack.handler.function), 'Arn'] } }],
    });
    alb.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Conditions: [
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['BITS_POST', 'POST'] } },
      ],
      Actions: [Match.objectLike({ Type: 'forward' })],
    });
  });

  it('answers anything else with a fixed 404', () => {
    alb.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      DefaultActions: [
        Match.objectLike({
          Type: 'fixed-response',
          FixedResponseConfig: Match.objectLike({ StatusCode: '404' }),
        }),
      ],
    });
  });

  it('listens on plain HTTP port 80 when no certificate is given', () => {
    alb.template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    alb.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTP',
      Port: 80,
    });
  });

  it('is internet-facing in public subnets of a new two-AZ VPC without NAT gateways, with flow logs', () => {
    alb.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
      ]),
    });
    alb.template.resourceCountIs('AWS::EC2::Subnet', 2);
    alb.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    alb.template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  it('creates no HTTP API', () => {
    alb.template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  });
});

describe('outputs', () => {
  it.each(FRONTS)('exports UploadUrl, BucketName, TableName and Front (%s)', (front) => {
    const synthesized = synthesizedFor(front);
    const outputs = synthesized.template.toJSON().Outputs;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['UploadUrl', 'BucketName', 'TableName', 'Front']),
    );
    expect(outputs.Front.Value).toBe(front);
    expect(outputs.BucketName.Value).toEqual({ Ref: logicalId(synthesized.stack.storage.bucket) });
    expect(outputs.TableName.Value).toEqual({ Ref: logicalId(synthesized.stack.storage.table) });
  });

  it('points UploadUrl at the stage URL (http-api) or the load balancer DNS name (alb)', () => {
    expect(JSON.stringify(httpApi.template.toJSON().Outputs.UploadUrl.Value)).toMatch(/execute-api/);
    expect(JSON.stringify(alb.template.toJSON().Outputs.UploadUrl.Value)).toMatch(
      /^\{"Fn::Join":\["",\["http:\/\/",\{"Fn::GetAtt":\["\w+","DNSName"\]\}/,
    );
  });
});
