import { type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AuthMode } from '../../lambda/config';

/** The route key BITS clients hit; CDK's HttpMethod enum has no extension methods. */
export const BITS_POST_ROUTE_KEY = 'BITS_POST /{proxy+}';

export interface HttpApiFrontProps {
  readonly handler: lambda.IFunction;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
  /** The function's auth mode, which decides why the routes carry no API Gateway authorizer. */
  readonly authMode: AuthMode;
}

/** Why neither route has an API Gateway authorizer, per auth mode (cdk-nag AwsSolutions-APIG4). */
const NO_AUTHORIZER_REASON: Readonly<Record<AuthMode, string>> = {
  basic:
    'The function authenticates (HTTP Basic against salted scrypt hashes): Windows BITS sends credentials only after a 401 with a WWW-Authenticate challenge, which API Gateway authorizers cannot send.',
  upstream:
    'authMode=upstream: the deployer attaches the authorizer of their identity provider to both routes; the function refuses requests that arrive without its identity (401).',
  none: 'authMode=none was chosen explicitly (synthesis warns): callers are anonymous, for endpoints protected by another control such as a private network.',
};

/**
 * API Gateway HTTP API (payload format 2.0). Whether it passes the extension method BITS_POST is
 * undocumented (platform.md §1), so both an explicit `BITS_POST /{proxy+}` route and `$default`
 * lead to the function; the post-deploy smoke test tells which one answered.
 */
export class HttpApiFront extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** Where clients upload to. */
  readonly url: string;
  /** DNS target (CNAME / alias) for the custom domain, if one is configured. */
  readonly dnsTarget: string | undefined;

  constructor(scope: Construct, id: string, props: HttpApiFrontProps) {
    super(scope, id);

    // `$default` route; its Lambda permission covers every route of the API (source ARN `<api>/*/*`).
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-bits`,
      description: 'BITS upload endpoint',
      defaultIntegration: new HttpLambdaIntegration('Handler', props.handler, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      createDefaultStage: false,
    });

    // The explicit route shares the `$default` route's integration target.
    const defaultRoute = this.api.node.findChild('DefaultRoute').node.defaultChild as apigwv2.CfnRoute;
    const bitsRoute = new apigwv2.CfnRoute(this, 'BitsPostRoute', {
      apiId: this.api.apiId,
      routeKey: BITS_POST_ROUTE_KEY,
      target: defaultRoute.target,
      authorizationType: 'NONE',
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    let domainMapping: apigwv2.DomainMappingOptions | undefined;
    if (props.customDomain !== undefined) {
      const domainName = new apigwv2.DomainName(this, 'Domain', {
        domainName: props.customDomain.domainName,
        certificate: acm.Certificate.fromCertificateArn(
          this,
          'Certificate',
          props.customDomain.certificateArn,
        ),
      });
      domainMapping = { domainName };
      this.dnsTarget = domainName.regionalDomainName;
    }

    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      ...(domainMapping === undefined ? {} : { domainMapping }),
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        // httpMethod and routeKey show whether BITS_POST arrived and which route took it.
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            httpMethod: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationStatus: '$context.integrationStatus',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    this.url =
      props.customDomain === undefined ? this.stage.url : `https://${props.customDomain.domainName}/`;

    // The `$default` route (inside the api construct) and the BITS_POST route.
    for (const route of [this.api, bitsRoute]) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: NO_AUTHORIZER_REASON[props.authMode],
      });
    }
  }
}
