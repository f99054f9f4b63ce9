import type { Context } from 'aws-lambda';
import type { BitsLambdaHandler } from '../../../lambda/create-handler';

/**
 * Powertools Metrics and Logger write JSON lines through their own `Console` on `process.stdout`
 * and `process.stderr` (warnings and errors), not through the global console unless POWERTOOLS_DEV
 * is set. Spying on both streams' `write` sees what a Lambda log stream would get, in order.
 */
export interface OutputCapture {
  /** Everything written to either stream, in order. */
  readonly text: () => string;
  /** What went to stderr alone: Powertools' own plain-text warnings land there too. */
  readonly stderr: () => string;
  /** Each non-empty line parsed as JSON (every line the function writes is JSON). */
  readonly json: () => Record<string, unknown>[];
  restore(): void;
}

export function captureOutput(): OutputCapture {
  const written: { readonly stream: 'stdout' | 'stderr'; readonly text: string }[] = [];
  const spyOn = (stream: 'stdout' | 'stderr') =>
    jest.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push({ stream, text: typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8') });
      return true;
    });
  const spies = [spyOn('stdout'), spyOn('stderr')];
  const text = () => written.map((entry) => entry.text).join('');
  return {
    text,
    stderr: () =>
      written
        .filter((entry) => entry.stream === 'stderr')
        .map((entry) => entry.text)
        .join(''),
    json: () =>
      text()
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

/** One EMF record, reshaped for assertions. */
export interface EmfRecord {
  readonly namespace: string;
  /** Dimension sets, each as published: names in order. */
  readonly dimensionSets: readonly (readonly string[])[];
  /** Metric name → unit. */
  readonly units: Readonly<Record<string, string>>;
  /** Every top-level member: dimension values and metric values (a number or a list of them). */
  readonly values: Readonly<Record<string, unknown>>;
}

interface EmfDirective {
  readonly Namespace: string;
  readonly Dimensions: string[][];
  readonly Metrics: { readonly Name: string; readonly Unit: string }[];
}

/** The EMF lines among captured output, in order; log lines are left out. */
export function emfRecords(lines: readonly Record<string, unknown>[]): EmfRecord[] {
  return lines.flatMap((line) => {
    const aws = line._aws as { CloudWatchMetrics?: EmfDirective[] } | undefined;
    const directive = aws?.CloudWatchMetrics?.[0];
    if (directive === undefined) return [];
    return [
      {
        namespace: directive.Namespace,
        dimensionSets: directive.Dimensions,
        units: Object.fromEntries(directive.Metrics.map((metric) => [metric.Name, metric.Unit])),
        values: line,
      },
    ];
  });
}

/** The log lines among captured output (Powertools Logger records carry `level`). */
export const logRecords = (lines: readonly Record<string, unknown>[]) =>
  lines.filter((line) => typeof line.level === 'string' && line._aws === undefined);

/** A Lambda context as the Node.js runtime passes it. */
export function lambdaContext(awsRequestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'bits-upload-function',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:bits-upload-function',
    memoryLimitInMB: '1024',
    awsRequestId,
    logGroupName: '/aws/lambda/bits-upload-function',
    logStreamName: '2026/11/23/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The handler as Lambda invokes it: every call with a context, request ids req-1, req-2, … */
export function asLambda(handler: BitsLambdaHandler): BitsLambdaHandler {
  let invocations = 0;
  return (event) => {
    invocations += 1;
    return handler(event, lambdaContext(`req-${invocations}`));
  };
}
