import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * How every function of the stack is bundled, shared with the bundle test so it measures what
 * ships. The runtime provides the AWS SDK v3, so `@aws-sdk/*` stays out of the bundle.
 */
export const LAMBDA_BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node22',
  externalModules: ['@aws-sdk/*'],
} as const;

/** The project root: the nearest folder above `start` holding package-lock.json. */
export function findProjectRoot(start: string = __dirname): string {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package-lock.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package-lock.json above ${start}`);
  }
}

/**
 * A function's code: prebuilt `code` (tests pass a stub), or `entry` (path segments from the project
 * root) bundled by the local esbuild, never Docker.
 */
export function functionCode(
  entry: readonly string[],
  code: lambda.Code | undefined,
): Pick<
  nodejs.NodejsFunctionProps,
  'code' | 'handler' | 'entry' | 'projectRoot' | 'depsLockFilePath' | 'bundling'
> {
  if (code !== undefined) return { code, handler: 'index.handler' };
  const root = findProjectRoot();
  return {
    entry: path.join(root, ...entry),
    handler: 'handler',
    projectRoot: root,
    depsLockFilePath: path.join(root, 'package-lock.json'),
    bundling: {
      ...LAMBDA_BUNDLING,
      externalModules: [...LAMBDA_BUNDLING.externalModules],
      forceDockerBundling: false,
    },
  };
}

export interface OwnLogsAndRoleProps {
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** The role's description. */
  readonly description: string;
  /** Construct ids of the log group and the role. @default 'Logs', 'Role' */
  readonly ids?: { readonly logs: string; readonly role: string };
}

/**
 * A function's own log group and role. Own role instead of AWSLambdaBasicExecutionRole: log writes
 * go to this log group only, and every other permission is added statement by statement.
 */
export function ownLogsAndRole(
  scope: Construct,
  props: OwnLogsAndRoleProps,
): { readonly logGroup: logs.LogGroup; readonly role: iam.Role } {
  const ids = props.ids ?? { logs: 'Logs', role: 'Role' };
  const logGroup = new logs.LogGroup(scope, ids.logs, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  const role = new iam.Role(scope, ids.role, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: props.description,
  });
  logGroup.grantWrite(role);
  return { logGroup, role };
}
