import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { resolveSettings, SettingsError, settingsFromContext } from '../../infra/settings';
import { CONFIG_ENV } from '../../lambda/config';
import {
  acknowledgements,
  asList,
  functionRoleStatements,
  logicalId,
  type Statement,
  type Synthesized,
  synthesize,
} from './helpers';

const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000';
const KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555';
const PARAMETER = '/bits/users';

/** `arn:${Partition}:ssm:${Region}:${AccountId}:parameter/<name>`, as CDK renders it in a stack without env. */
const parameterArn = (name: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':ssm:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:parameter/${name}`,
    ],
  ],
});

const statementsWith = (statements: Statement[], prefix: string): Statement[] =>
  statements.filter((statement) => asList(statement.Action).some((action) => action.startsWith(prefix)));

const environmentOf = (synthesized: Synthesized): Record<string, unknown> =>
  synthesized.template.toJSON().Resources[logicalId(synthesized.stack.handler.function)].Properties
    .Environment.Variables;

describe('authMode=basic', () => {
  let basic: Synthesized;
  beforeAll(() => {
    basic = synthesize(
      {
        authMode: 'basic',
        authParameterName: PARAMETER,
        authCacheSeconds: 300,
        maxSessionsPerPrincipal: 50,
        principalPrefix: true,
      },
      { authWarnings: true },
    );
  }, 60_000);

  it('grants ssm:GetParameter on exactly the users parameter, and nothing else in SSM or KMS', () => {
    const statements = functionRoleStatements(basic);
    const ssm = statementsWith(statements, 'ssm:');
    expect(ssm).toEqual([
      {
        Sid: 'ReadAuthParameter',
        Effect: 'Allow',
        Action: 'ssm:GetParameter',
        Resource: parameterArn('bits/users'),
      },
    ]);
    // The AWS managed key aws/ssm needs no grant: its key policy admits callers through SSM.
    expect(statementsWith(statements, 'kms:')).toEqual([]);
  });

  it('tells the function the mode, the parameter and the limits', () => {
    expect(environmentOf(basic)).toMatchObject({
      [CONFIG_ENV.authMode]: 'basic',
      [CONFIG_ENV.authParameter]: PARAMETER,
      [CONFIG_ENV.authCacheSeconds]: '300',
      [CONFIG_ENV.authRealm]: 'BITS upload',
      [CONFIG_ENV.principalPrefix]: 'true',
      [CONFIG_ENV.maxSessionsPerPrincipal]: '50',
    });
    expect(basic.template.toJSON().Outputs.AuthMode.Value).toBe('basic');
  });

  it('says why the HTTP API routes carry no API Gateway authorizer', () => {
    const reasons = acknowledgements(basic.app).filter((entry) => entry.id === 'AwsSolutions-APIG4');
    expect(reasons).toHaveLength(2);
    for (const { reason } of reasons) expect(reason).toMatch(/Basic.*401/);
  });

  it('does not warn that the endpoint is open', () => {
    Annotations.fromStack(basic.stack).hasNoWarning('*', Match.stringLikeRegexp('authMode=none'));
  });

  it('renders a name without a leading slash as parameter/<name>', () => {
    const plain = synthesize({ authMode: 'basic', authParameterName: 'bits-users' });
    const [statement] = statementsWith(functionRoleStatements(plain), 'ssm:');
    expect(statement?.Resource).toEqual(parameterArn('bits-users'));
  });
});

describe('authMode=basic with a customer-managed parameter key', () => {
  it('adds kms:Decrypt on that key, only through SSM and only for this parameter', () => {
    const synthesized = synthesize({
      env: { region: 'eu-west-1' },
      authMode: 'basic',
      authParameterName: PARAMETER,
      authParameterKeyArn: KEY_ARN,
    });
    const kms = statementsWith(functionRoleStatements(synthesized), 'kms:');
    expect(kms).toEqual([
      {
        Sid: 'DecryptAuthParameter',
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: KEY_ARN,
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['ssm.eu-west-1.', { Ref: 'AWS::URLSuffix' }]] },
            'kms:EncryptionContext:PARAMETER_ARN': {
              'Fn::Join': [
                '',
                // The region is known, so cdk.json's partition-literals flag writes `aws`.
                ['arn:aws:ssm:eu-west-1:', { Ref: 'AWS::AccountId' }, ':parameter/bits/users'],
              ],
            },
          },
        },
      },
    ]);
  });
});

describe('default stack (authMode=none)', () => {
  let open: Synthesized;
  beforeAll(() => {
    open = synthesize({}, { authWarnings: true });
  }, 60_000);

  it('grants nothing in SSM and sets no parameter', () => {
    expect(statementsWith(functionRoleStatements(open), 'ssm:')).toEqual([]);
    const environment = environmentOf(open);
    expect(environment).not.toHaveProperty(CONFIG_ENV.authParameter);
    expect(environment).toMatchObject({
      [CONFIG_ENV.authMode]: 'none',
      [CONFIG_ENV.principalPrefix]: 'false',
      [CONFIG_ENV.maxSessionsPerPrincipal]: '0',
    });
  });

  it('warns at synthesis that anyone can upload', () => {
    Annotations.fromStack(open.stack).hasWarning('*', Match.stringLikeRegexp('authMode=none: anyone'));
  });

  it('gives the session table the owner index (owner, expiresAt) projecting state', () => {
    open.template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'owner', AttributeType: 'S' },
        { AttributeName: 'expiresAt', AttributeType: 'N' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'owner-index',
          KeySchema: [
            { AttributeName: 'owner', KeyType: 'HASH' },
            { AttributeName: 'expiresAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
        },
      ],
    });
  });
});

describe('authMode=upstream', () => {
  it('warns that an authorizer must be attached to both routes', () => {
    const upstream = synthesize({ authMode: 'upstream' }, { authWarnings: true });
    Annotations.fromStack(upstream.stack).hasWarning('*', Match.stringLikeRegexp('attach an authorizer'));
    expect(statementsWith(functionRoleStatements(upstream), 'ssm:')).toEqual([]);
  });
});

describe('auth settings', () => {
  it.each([
    ['basic without a parameter', { authMode: 'basic' as const }],
    ['a parameter without basic', { authParameterName: PARAMETER }],
    ['a parameter with upstream', { authMode: 'upstream' as const, authParameterName: PARAMETER }],
    [
      'basic over the plain-HTTP alb',
      { front: 'alb' as const, authMode: 'basic' as const, authParameterName: PARAMETER },
    ],
    ['upstream (mutual TLS) on the plain-HTTP alb', { front: 'alb' as const, authMode: 'upstream' as const }],
    ['a parameter key without basic', { authParameterKeyArn: KEY_ARN }],
    [
      'a parameter key that is an alias',
      { authMode: 'basic' as const, authParameterName: PARAMETER, authParameterKeyArn: 'alias/aws/ssm' },
    ],
    ['a parameter name SSM refuses', { authMode: 'basic' as const, authParameterName: 'aws-users' }],
    ['a realm with a quote', { authRealm: 'say "hi"' }],
    ['a session limit above 100,000', { maxSessionsPerPrincipal: 100_001 }],
  ])('refuses %s', (_name, props) => {
    expect(() => resolveSettings(props, {})).toThrow(SettingsError);
  });

  it('accepts basic on the alb once it has a certificate', () => {
    const settings = resolveSettings(
      {
        front: 'alb',
        authMode: 'basic',
        authParameterName: PARAMETER,
        domainName: 'bits.example.com',
        certificateArn: CERTIFICATE_ARN,
      },
      {},
    );
    expect(settings.authParameter).toEqual({ name: PARAMETER, keyArn: undefined });
  });

  it('reads the auth keys from context strings', () => {
    const node = new App({
      context: {
        authMode: 'basic',
        authParameterName: PARAMETER,
        authCacheSeconds: '120',
        principalPrefix: 'true',
        maxSessionsPerPrincipal: '50',
      },
    }).node;
    expect(settingsFromContext(node)).toEqual({
      authMode: 'basic',
      authParameterName: PARAMETER,
      authCacheSeconds: 120,
      principalPrefix: true,
      maxSessionsPerPrincipal: 50,
    });
  });
});
