import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Annotations, App, type CfnElement, type PolicyViolation, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { AUTH_WARNINGS, BitsUploadStack, type BitsUploadStackProps } from '../../infra/bits-upload-stack';

const ROOT = path.resolve(__dirname, '..', '..');

/** The feature flags of cdk.json, so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Stands in for the bundle: only the bundle test pays for esbuild. */
export const STUB_CODE = lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 500 });');

export interface Synthesized {
  readonly app: App;
  readonly stack: BitsUploadStack;
  readonly template: Template;
}

export interface SynthOptions {
  /** Extra context, e.g. what `-c key=value` would give (strings). */
  readonly context?: Record<string, unknown>;
  /** Bundle lambda/index.ts with esbuild instead of the stub. */
  readonly bundle?: boolean;
  /**
   * Keep the synthesis warnings about auth modes (authMode=none warns). Dropped by default: every
   * test synthesizes the default stack, and test/infra/auth.test.ts asserts the warnings itself.
   */
  readonly authWarnings?: boolean;
}

/** One environment-agnostic stack (no AZ or region lookups), synthesized into a temporary cdk.out. */
export function synthesize(props: BitsUploadStackProps = {}, options: SynthOptions = {}): Synthesized {
  const app = new App({
    context: { ...cdkJsonContext(), ...options.context },
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'bits-infra-')),
  });
  const stack = new BitsUploadStack(app, 'BitsUploadTest', {
    ...(options.bundle === true
      ? {}
      : { functionCode: STUB_CODE, exampleConsumerCode: STUB_CODE, sweeperCode: STUB_CODE }),
    ...props,
  });
  if (options.authWarnings !== true) {
    for (const id of AUTH_WARNINGS) Annotations.of(stack).acknowledgeWarning(id, 'tests of other concerns');
  }
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

/** AwsSolutions findings that no acknowledgement covers, over the whole (already synthesized) app. */
export function unacknowledgedNagFindings(scope: IConstruct): PolicyViolation[] {
  return new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(scope).violations;
}

/** Every acknowledgement (rule id → reason) recorded under `scope`, with the construct path. */
export function acknowledgements(scope: IConstruct): { path: string; id: string; reason: string }[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

export const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The logical id a construct's CloudFormation resource got. */
export function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).resolve(element.logicalId) as string;
}

/** All statements of the inline policies attached to the function's role. */
export function functionRoleStatements(synthesized: Synthesized): Statement[] {
  return roleStatements(synthesized, synthesized.stack.handler.role);
}

/** All statements of the inline policies attached to `role`. */
export function roleStatements(synthesized: Synthesized, role: IConstruct): Statement[] {
  const roleId = logicalId(role);
  const policies = synthesized.template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) =>
      (policy.Properties.Roles as unknown[]).some(
        (attached) => JSON.stringify(attached) === JSON.stringify({ Ref: roleId }),
      ),
    )
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** `{ "Fn::Join": ["", [{ "Fn::GetAtt": [bucket, "Arn"] }, suffix]] }`, as CDK renders object ARNs. */
export function objectArn(bucketLogicalId: string, suffix: string): unknown {
  return { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketLogicalId, 'Arn'] }, suffix]] };
}
