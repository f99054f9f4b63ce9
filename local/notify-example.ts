import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LambdaStyleFunction, NotificationEvent } from '../lambda/adapters/lambda-notification-target';
import { NOTIFICATION_HEADERS } from '../lambda/protocol/headers';

/**
 * A small upload-reply application for `npm start -- --notify-example` and the tests: it reads the
 * upload (by reference through the presigned GET, by value from the body), and replies with a few
 * lines naming the session, the size and the sha256 of what it read. By reference it writes the
 * reply where IIS applications do, to the response data file (the presigned PUT), and answers 200
 * with an empty body; by value the reply is the answer's body.
 */

/** What the application learnt about one upload. */
export interface ExampleUpload {
  readonly sessionId: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ExampleApplicationOptions {
  readonly host?: string;
  readonly port?: number;
  /** The reply for an upload; default: the report described above. */
  readonly reply?: (upload: ExampleUpload) => Buffer;
}

/** One POST the application received (headers lower-case), for tests to look at. */
export interface ReceivedNotification {
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  readonly upload: ExampleUpload;
}

export interface ExampleApplication {
  /** The notification URL (BITS_NOTIFICATION_URL). */
  readonly url: string;
  readonly received: ReceivedNotification[];
  stop(): Promise<void>;
}

export const exampleReply = (upload: ExampleUpload): Buffer =>
  Buffer.from(
    `bits-upload example application\nsession ${upload.sessionId}\nsize ${upload.size}\nsha256 ${upload.sha256}\n`,
    'utf8',
  );

async function read(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function fetchBytes(url: string): Promise<Buffer> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET of the upload answered ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

async function putBytes(url: string, body: Buffer): Promise<void> {
  const response = await fetch(url, { method: 'PUT', body });
  if (!response.ok) throw new Error(`PUT of the reply answered ${response.status}`);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

async function answer(
  request: IncomingMessage,
  response: ServerResponse,
  options: ExampleApplicationOptions,
  received: ReceivedNotification[],
): Promise<void> {
  const body = await read(request);
  const dataUrl = header(request, NOTIFICATION_HEADERS.requestDataFileUrl);
  const replyUrl = header(request, NOTIFICATION_HEADERS.responseDataFileUrl);
  const data = dataUrl === undefined ? body : await fetchBytes(dataUrl);
  const upload = {
    sessionId: header(request, NOTIFICATION_HEADERS.sessionId) ?? '',
    size: data.length,
    sha256: sha256(data),
  };
  received.push({
    headers: Object.fromEntries(
      Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
    ),
    bodyBytes: body.length,
    upload,
  });
  const reply = (options.reply ?? exampleReply)(upload);
  if (replyUrl !== undefined) {
    await putBytes(replyUrl, reply);
    response.writeHead(200, { 'Content-Length': '0' }).end();
  } else {
    response
      .writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(reply.length) })
      .end(reply);
  }
}

/** Starts the example application on loopback (an ephemeral port unless one is given). */
export async function startExampleApplication(
  options: ExampleApplicationOptions = {},
): Promise<ExampleApplication> {
  const received: ReceivedNotification[] = [];
  const server = http.createServer((request, response) => {
    answer(request, response, options, received).catch((error: unknown) => {
      process.stderr.write(`example application: ${String(error)}\n`);
      if (!response.headersSent) response.writeHead(500, { 'Content-Length': '0' });
      response.end();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/bits-notify`,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The same application as a Lambda-style function (`--notify-example-function`, tests). */
export function exampleNotificationFunction(
  reply: (upload: ExampleUpload) => Buffer = exampleReply,
): LambdaStyleFunction & { readonly events: NotificationEvent[] } {
  const events: NotificationEvent[] = [];
  const fn = async (event: NotificationEvent) => {
    events.push(event);
    const data =
      event.body === undefined ? await fetchBytes(event.dataFileUrl) : Buffer.from(event.body, 'base64');
    const bytes = reply({ sessionId: event.sessionId, size: data.length, sha256: sha256(data) });
    return { statusCode: 200, body: bytes.toString('base64'), isBase64Encoded: true };
  };
  return Object.assign(fn, { events });
}

/** The function name `--notify-example-function` configures; the local server runs it in process. */
export const EXAMPLE_FUNCTION_NAME = 'bits-notify-example';
