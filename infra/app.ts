import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { BitsUploadStack } from './bits-upload-stack';

// CDK entry (cdk.json "app": `npx tsx infra/app.ts`, so no compile step).
const app = new App();

// Account and region come from the CLI's profile when there is one; without them (offline synth)
// the template stays environment-agnostic.
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
const stackName: unknown = app.node.tryGetContext('stackName');

new BitsUploadStack(app, typeof stackName === 'string' && stackName !== '' ? stackName : 'BitsUpload', {
  description: 'BITS (Background Intelligent Transfer Service) upload server',
  ...(account === undefined && region === undefined ? {} : { env: { account, region } }),
});

// cdk-nag 3 is a policy-validation plugin: an AwsSolutions error fails synthesis unless the
// construct acknowledges it with a written reason (Validations.of(construct).acknowledge).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
