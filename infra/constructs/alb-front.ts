import { type RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { LambdaTarget } from 'aws-cdk-lib/aws-elasticloadbalancingv2-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { replyUrlFor } from '../../lambda/protocol/reply';

/** Methods the listener rule forwards: BITS_POST, and POST for method-rewriting proxies (platform.md §1). */
export const ALB_FORWARDED_METHODS = ['BITS_POST', 'POST'];

/** Upload-reply: clients download replies with GET (and may ask HEAD) from the reply URL. */
export const ALB_REPLY_METHODS = ['GET', 'HEAD'];
/**
 * Where reply URLs point: the relative BITS-Reply-URL resolved against the upload URL, so under any
 * directory (`*` also matches `/` and nothing).
 */
export const ALB_REPLY_PATH_PATTERN = `*/${replyUrlFor('*')}`;

export interface AlbFrontProps {
  readonly handler: lambda.IFunction;
  /** Existing VPC with public subnets; unset creates a two-AZ VPC with public subnets only. */
  readonly vpc?: ec2.IVpc;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** HTTPS on 443 with this certificate, port 80 redirecting; unset serves plain HTTP on 80. */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
  /** Receives ALB access logs when the stack's region is known at synthesis. */
  readonly accessLogsBucket?: s3.IBucket;
  /** Forward reply downloads (GET/HEAD on reply URLs) too: set when notifications are on. */
  readonly replyDownloads?: boolean;
}

/**
 * Internet-facing Application Load Balancer: the one front documented to pass custom methods
 * (`http-request-method` rule condition, platform.md §1). Request bodies to a Lambda target are
 * capped at 1 MB, hence the smaller fragment limit (settings.ts ALB_MAX_FRAGMENT_SIZE).
 */
export class AlbFront extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  readonly url: string;
  readonly dnsTarget: string;

  constructor(scope: Construct, id: string, props: AlbFrontProps) {
    super(scope, id);

    const vpc = props.vpc ?? this.createVpc(props);
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'BITS upload load balancer',
      // Lambda targets are invoked through the Lambda service, not through the VPC.
      allowAllOutbound: false,
    });
    Validations.of(securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'Public upload endpoint: BITS clients connect from anywhere, so the listener ports are open to 0.0.0.0/0.',
    });

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // BITS headers are plain token names; anything else is dropped before it reaches the function.
      dropInvalidHeaderFields: true,
    });

    const region = Stack.of(this).region;
    if (props.accessLogsBucket !== undefined && !Token.isUnresolved(region)) {
      this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'alb');
    } else {
      Validations.of(this.loadBalancer).acknowledge({
        id: 'AwsSolutions-ELB2',
        reason:
          props.accessLogsBucket === undefined
            ? 'Access logs are turned off by configuration (accessLogs=false); the function logs every request.'
            : 'The log-delivery principal of ELB access logs depends on the region and this synthesis has none (set CDK_DEFAULT_REGION or a stack env to turn them on); the function logs every request.',
      });
    }

    const notFound = elbv2.ListenerAction.fixedResponse(404, {
      contentType: 'text/plain',
      messageBody: 'Not Found',
    });
    if (props.customDomain === undefined) {
      this.listener = this.loadBalancer.addListener('Http', {
        protocol: elbv2.ApplicationProtocol.HTTP,
        port: 80,
        defaultAction: notFound,
      });
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}/`;
    } else {
      this.listener = this.loadBalancer.addListener('Https', {
        protocol: elbv2.ApplicationProtocol.HTTPS,
        port: 443,
        certificates: [elbv2.ListenerCertificate.fromArn(props.customDomain.certificateArn)],
        defaultAction: notFound,
      });
      this.loadBalancer.addRedirect({
        sourceProtocol: elbv2.ApplicationProtocol.HTTP,
        sourcePort: 80,
        targetProtocol: elbv2.ApplicationProtocol.HTTPS,
        targetPort: 443,
      });
      this.url = `https://${props.customDomain.domainName}/`;
    }
    this.dnsTarget = this.loadBalancer.loadBalancerDnsName;

    const targetGroup = this.listener.addTargets('Handler', {
      priority: 10,
      conditions: [elbv2.ListenerCondition.httpRequestMethods(ALB_FORWARDED_METHODS)],
      targets: [new LambdaTarget(props.handler)],
    });
    if (props.replyDownloads === true) {
      // Only reply paths: every other GET still gets the fixed 404 without invoking the function.
      this.listener.addAction('Replies', {
        priority: 20,
        conditions: [
          elbv2.ListenerCondition.httpRequestMethods(ALB_REPLY_METHODS),
          elbv2.ListenerCondition.pathPatterns([ALB_REPLY_PATH_PATTERN]),
        ],
        action: elbv2.ListenerAction.forward([targetGroup]),
      });
    }
  }

  private createVpc(props: AlbFrontProps): ec2.Vpc {
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    // Public subnets only: the load balancer is the sole resource in the VPC, so no NAT gateways.
    return new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
  }
}
