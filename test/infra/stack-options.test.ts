import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { BitsUploadStack } from '../../infra/bits-upload-stack';
import {
  ALB_MAX_FRAGMENT_SIZE,
  CONTEXT_KEYS,
  resolveSettings,
  SettingsError,
  settingsFromContext,
} from '../../infra/settings';
import { CONFIG_ENV, DEFAULT_MAX_FRAGMENT_SIZE } from '../../lambda/config';
import {
  asList,
  cdkJsonContext,
  functionRoleStatements,
  logicalId,
  objectArn,
  STUB_CODE,
  type Synthesized,
  synthesize,
} from './helpers';

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000';
const REGION = 'eu-west-1';

describe('resolveSettings', () => {
  it('defaults to the http-api front with the function defaults and a 31-day lifecycle', () => {
    const settings = resolveSettings({}, {});
    expect(settings.front).toBe('http-api');
    expect(settings.config.maxFragmentSize).toBe(DEFAULT_MAX_FRAGMENT_SIZE);
    expect(settings.lifecycleDays).toBe(31);
    expect(settings.accessLogs).toBe(true);
    expect(settings.deletionProtection).toBe(true);
  });

  it('lets props win over context and context over defaults', () => {
    const settings = resolveSettings(
      { keyPrefix: 'props/' },
      { keyPrefix: 'context/', partSize: 16 * 1024 * 1024 },
    );
    expect(settings.config.keyPrefix).toBe('props/');
    expect(settings.config.partSize).toBe(16 * 1024 * 1024);
  });

  it('defaults the ALB fragment limit to the ALB cap', () => {
    expect(resolveSettings({ front: 'alb' }, {}).config.maxFragmentSize).toBe(ALB_MAX_FRAGMENT_SIZE);
  });

  it('turns table deletion protection off with the destroy removal policy unless it is set', () => {
    expect(resolveSettings({ removalPolicy: 'destroy' }, {}).deletionProtection).toBe(false);
    expect(
      resolveSettings({ removalPolicy: 'destroy', deletionProtection: true }, {}).deletionProtection,
    ).toBe(true);
    expect(resolveSettings({ removalPolicy: 'retain' }, {}).deletionProtection).toBe(true);
  });

  it('rounds the lifecycle up to whole days with at least one day of margin', () => {
    expect(resolveSettings({ maxSessionAgeSeconds: 60 }, {}).lifecycleDays).toBe(2);
    expect(resolveSettings({ maxSessionAgeSeconds: 2 * 86_400 }, {}).lifecycleDays).toBe(3);
    // The idle timeout does not move it: sessions never outlive their maximum age.
    expect(resolveSettings({ sessionTimeoutSeconds: 60 }, {}).lifecycleDays).toBe(31);
  });

  it.each([
    [
      'a fragment limit above what the ALB delivers',
      { front: 'alb' as const, maxFragmentSize: ALB_MAX_FRAGMENT_SIZE + 1 },
    ],
    ['a fragment limit above what a Lambda event holds', { maxFragmentSize: DEFAULT_MAX_FRAGMENT_SIZE + 1 }],
    ['a staging prefix inside the key prefix', { keyPrefix: 'uploads/', stagingPrefix: 'uploads/staging/' }],
    ['a part size below the S3 minimum', { partSize: 1024 }],
    ['a log retention CloudWatch does not offer', { logRetentionDays: 42 }],
    ['a certificate without a domain name', { certificateArn: CERTIFICATE_ARN }],
    ['a zero reserved concurrency', { reservedConcurrency: 0 }],
  ])('refuses %s', (_name, props) => {
    expect(() => resolveSettings(props, {})).toThrow(SettingsError);
  });
});

describe('settingsFromContext', () => {
  const contextOf = (context: Record<string, unknown>) => new App({ context }).node;

  it('parses the strings `-c key=value` gives', () => {
    expect(
      settingsFromContext(
        contextOf({
          front: 'alb',
          maxFragmentSize: '500000',
          allowOverwrites: 'true',
          kms: 'false',
          logLevel: 'DEBUG',
        }),
      ),
    ).toEqual({
      front: 'alb',
      maxFragmentSize: 500_000,
      allowOverwrites: true,
      kms: false,
      logLevel: 'DEBUG',
    });
  });

  it('accepts typed values from cdk.json', () => {
    expect(settingsFromContext(contextOf({ partSize: 10_485_760, versioned: true }))).toEqual({
      partSize: 10_485_760,
      versioned: true,
    });
  });

  it.each([
    ['front', 'cloudfront'],
    ['maxUploadSize', '10GB'],
    ['accessLogs', 'yes'],
    ['memorySize', 1.5],
  ])('refuses %s=%p', (key, value) => {
    expect(() => settingsFromContext(contextOf({ [key]: value }))).toThrow(SettingsError);
  });

  it('documents every context key in the deploy options of README.md', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `(\w+)` +\|/gm)].map((match) => match[1]);
    expect(documented).toEqual(expect.arrayContaining([...CONTEXT_KEYS]));
  });

  it('ignores context it does not own (the cdk.json feature flags)', () => {
    expect(settingsFromContext(contextOf(cdkJsonContext()))).toEqual({});
    expect(CONTEXT_KEYS).toContain('front');
  });
});

describe('stack built from context', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(
      {},
      {
        context: {
          front: 'alb',
          keyPrefix: 'in/',
          stagingPrefix: 'tmp/',
          sessionTimeoutSeconds: String(2 * 86_400),
          maxSessionAgeSeconds: String(2 * 86_400),
          maxFragmentSize: '524288',
          allowOverwrites: 'true',
          accessLogs: 'false',
        },
      },
    );
  }, 60_000);

  it('uses the ALB front', () => {
    synthesized.template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    expect(synthesized.template.toJSON().Outputs.Front.Value).toBe('alb');
  });

  it('passes the settings to the function', () => {
    synthesized.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [CONFIG_ENV.keyPrefix]: 'in/',
          [CONFIG_ENV.stagingPrefix]: 'tmp/',
          [CONFIG_ENV.sessionTimeoutSeconds]: '172800',
          [CONFIG_ENV.maxSessionAgeSeconds]: '172800',
          [CONFIG_ENV.maxFragmentSize]: '524288',
          [CONFIG_ENV.allowOverwrites]: 'true',
        }),
      },
    });
  });

  it('scopes object permissions and the staging lifecycle to the configured prefixes', () => {
    const bucketId = logicalId(synthesized.stack.storage.bucket);
    const resources = functionRoleStatements(synthesized).flatMap((statement) => asList(statement.Resource));
    expect(resources).toContainEqual(objectArn(bucketId, '/in/*'));
    expect(resources).toContainEqual(objectArn(bucketId, '/tmp/*'));
    expect(JSON.stringify(resources)).not.toMatch(/uploads\/|bits-staging\//);
    synthesized.template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'tmp/', ExpirationInDays: 3 })]),
      },
    });
  });

  it('creates no access-logs bucket when access logs are off', () => {
    synthesized.template.resourceCountIs('AWS::S3::Bucket', 1);
    synthesized.template.hasResourceProperties('AWS::S3::Bucket', { LoggingConfiguration: Match.absent() });
  });

  it('refuses an invalid context value when the stack is built', () => {
    const app = new App({ context: { front: 'cloudfront' } });
    expect(() => new BitsUploadStack(app, 'Bad', { functionCode: STUB_CODE })).toThrow(/front/);
  });
});

describe('alb front with a certificate', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize({
      env: { region: REGION },
      front: 'alb',
      domainName: 'bits.example.com',
      certificateArn: CERTIFICATE_ARN,
    });
  }, 60_000);

  it('serves HTTPS on 443 with the certificate and redirects port 80 to it', () => {
    synthesized.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTPS',
      Port: 443,
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
    });
    synthesized.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [
        Match.objectLike({
          Type: 'redirect',
          RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }),
        }),
      ],
    });
  });

  it('forwards BITS_POST on the HTTPS listener', () => {
    const listeners = synthesized.template.findResources('AWS::ElasticLoadBalancingV2::Listener', {
      Properties: { Protocol: 'HTTPS' },
    });
    synthesized.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      ListenerArn: { Ref: Object.keys(listeners)[0] },
      Conditions: [
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['BITS_POST', 'POST'] } },
      ],
    });
  });

  it('writes ALB access logs to the logs bucket once the region is known', () => {
    synthesized.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'access_logs.s3.enabled', Value: 'true' }]),
    });
  });

  it('publishes the HTTPS URL of the domain and the DNS target', () => {
    const outputs = synthesized.template.toJSON().Outputs;
    expect(outputs.UploadUrl.Value).toBe('https://bits.example.com/');
    expect(outputs.DnsTarget.Value).toEqual({
      'Fn::GetAtt': [logicalId(synthesized.stack.front.node.findChild('LoadBalancer')), 'DNSName'],
    });
  });
});

describe('http-api front with every option on', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize({
      env: { region: REGION },
      domainName: 'bits.example.com',
      certificateArn: CERTIFICATE_ARN,
      kms: true,
      versioned: true,
      removalPolicy: 'destroy',
      reservedConcurrency: 20,
      tracing: true,
      logRetentionDays: 30,
      memorySize: 2048,
    });
  }, 60_000);

  it('maps the custom domain to the $default stage', () => {
    synthesized.template.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'bits.example.com',
      DomainNameConfigurations: [{ CertificateArn: CERTIFICATE_ARN, EndpointType: 'REGIONAL' }],
    });
    synthesized.template.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', { Stage: '$default' });
    expect(synthesized.template.toJSON().Outputs.UploadUrl.Value).toBe('https://bits.example.com/');
  });

  it('encrypts bucket and table with one rotated customer-managed key', () => {
    const keyArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] };
    synthesized.template.resourceCountIs('AWS::KMS::Key', 1);
    synthesized.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    synthesized.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn },
          },
        ],
      },
    });
    synthesized.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [Match.objectLike({ SSESpecification: { KMSMasterKeyId: keyArn } })],
    });
  });

  it('lets the function use the key, and uses "*" only for the X-Ray actions, which have no resource ARNs', () => {
    const statements = functionRoleStatements(synthesized);
    const wildcard = statements.filter((statement) => asList(statement.Resource).includes('*'));
    expect(wildcard.flatMap((statement) => asList(statement.Action)).sort()).toEqual([
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    const bucketKey = statements.find((statement) => statement.Sid === 'UseBucketKey');
    expect(asList(bucketKey?.Action ?? []).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(bucketKey?.Resource).toEqual({
      'Fn::GetAtt': [logicalId(synthesized.stack.node.findChild('Key')), 'Arn'],
    });
  });

  it('versions the bucket and expires old versions of staged chunks', () => {
    synthesized.template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'bits-staging/', NoncurrentVersionExpiration: { NoncurrentDays: 1 } }),
        ]),
      },
    });
  });

  it('deletes bucket, table and log groups with the stack and drops table deletion protection', () => {
    const resources = synthesized.template.toJSON().Resources as Record<
      string,
      { Type: string; DeletionPolicy?: string }
    >;
    for (const type of [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::GlobalTable',
      'AWS::Logs::LogGroup',
      'AWS::KMS::Key',
    ]) {
      const ofType = Object.values(resources).filter((resource) => resource.Type === type);
      expect(ofType.length).toBeGreaterThan(0);
      for (const resource of ofType) expect(resource.DeletionPolicy).toBe('Delete');
    }
    synthesized.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })],
    });
  });

  it('applies reserved concurrency, tracing, memory and log retention', () => {
    synthesized.template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 20,
      TracingConfig: { Mode: 'Active' },
      MemorySize: 2048,
    });
    synthesized.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('refuses a customer-managed key without a region (TableV2 renders the key per replica region)', () => {
    expect(() => synthesize({ kms: true })).toThrow(SettingsError);
  });
});
