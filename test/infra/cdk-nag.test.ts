import { App, type PolicyViolation, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { BitsUploadStackProps } from '../../infra/bits-upload-stack';
import { acknowledgements, synthesize, unacknowledgedNagFindings } from './helpers';

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000';

/** The two default fronts, plus the variants whose acknowledgements differ. */
const VARIANTS: readonly (readonly [string, BitsUploadStackProps])[] = [
  ['http-api (default)', {}],
  ['alb (default)', { front: 'alb' }],
  [
    'alb with certificate, KMS, tracing, region, no access logs',
    {
      front: 'alb',
      env: { region: 'eu-west-1' },
      domainName: 'bits.example.com',
      certificateArn: CERTIFICATE_ARN,
      kms: true,
      tracing: true,
      accessLogs: false,
    },
  ],
  [
    'http-api with custom domain, KMS, region, an alarm email topic',
    {
      env: { region: 'eu-west-1' },
      domainName: 'bits.example.com',
      certificateArn: CERTIFICATE_ARN,
      kms: true,
      alarmEmail: 'ops@example.com',
    },
  ],
  [
    'http-api with basic auth, a customer-managed parameter key and session limits',
    {
      env: { region: 'eu-west-1' },
      authMode: 'basic',
      authParameterName: '/bits/users',
      authParameterKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555',
      maxSessionsPerPrincipal: 50,
      principalPrefix: true,
    },
  ],
  [
    'alb with certificate and upstream auth (mutual TLS)',
    { front: 'alb', domainName: 'bits.example.com', certificateArn: CERTIFICATE_ARN, authMode: 'upstream' },
  ],
  [
    'alb with by-value notifications to a Lambda application, without the example consumer',
    {
      front: 'alb',
      notificationType: 'by-value',
      notificationFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:bits-application',
      exampleConsumer: false,
    },
  ],
];

const describeFindings = (findings: PolicyViolation[]): string =>
  findings
    .map(
      (finding) =>
        `${finding.severity} ${finding.ruleName}: ${finding.violatingResources.map((r) => r.constructPath).join(', ')}\n  ${finding.description}`,
    )
    .join('\n');

describe('cdk-nag AwsSolutions', () => {
  const synthesized = new Map<string, App>();
  beforeAll(() => {
    for (const [name, props] of VARIANTS) synthesized.set(name, synthesize(props).app);
  }, 60_000);

  it.each(VARIANTS.map(([name]) => name))('has no unacknowledged finding: %s', (name) => {
    const app = synthesized.get(name);
    if (app === undefined) throw new Error(`${name} was not synthesized`);
    const findings = unacknowledgedNagFindings(app);
    if (findings.length > 0) console.log(`cdk-nag findings for ${name}:\n${describeFindings(findings)}`);
    expect(findings.map((finding) => finding.ruleName)).toEqual([]);
  });

  it('gives every AwsSolutions acknowledgement a written reason, and prints them', () => {
    const seen = new Set<string>();
    for (const app of synthesized.values()) {
      for (const { path, id, reason } of acknowledgements(app)) {
        if (!id.startsWith('AwsSolutions-')) continue;
        expect(reason.trim().length).toBeGreaterThan(40);
        seen.add(`- ${id} @ ${path.replace(/^BitsUploadTest\//, '')}: ${reason}`);
      }
    }
    console.log(`cdk-nag acknowledgements:\n${[...seen].join('\n')}`);
    expect(seen.size).toBeGreaterThan(0);
  });

  it('does report a finding the stack has not acknowledged (the check is live)', () => {
    const app = new App();
    new s3.Bucket(new Stack(app, 'Bare'), 'Bucket');
    app.synth();
    const rules = unacknowledgedNagFindings(app).map((finding) => finding.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });
});
