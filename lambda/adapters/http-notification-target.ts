import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  type ApplicationAnswer,
  ApplicationUnreachableError,
  type NotificationTarget,
  ReplyTooLargeError,
  type UploadNotice,
} from '../ports/notification-target';
import { NOTIFICATION_HEADERS } from '../protocol/headers';
import { MAX_REPLY_BYTES } from '../protocol/reply';

/** IIS's back-end client announced itself so (RX-2); applications written for IIS may look for it. */
export const NOTIFICATION_USER_AGENT = 'BITSExts 1.5';

/** `%XX` of each UTF-8 byte of a character. */
const percentBytes = (char: string): string =>
  [...Buffer.from(char, 'utf8')]
    .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
    .join('');

/**
 * An object name as a header value: a field value is visible ASCII (RFC 9110 §5.5), and Node
 * refuses anything outside Latin-1 (and would send Latin-1 as raw bytes). Every other character,
 * and `%` itself, becomes percent-encoded UTF-8, so `decodeURIComponent` gives the name back exactly.
 */
export const headerSafeName = (name: string): string => name.replace(/[^\x21-\x24\x26-\x7e]/gu, percentBytes);

/** A URL as a header value: like headerSafeName, but a `%` already is an escape and stays. */
export const headerSafeUrl = (url: string): string => url.replace(/[^\x21-\x7e]/gu, percentBytes);

/** What encodeURIComponent gives (the principal's documented form), without its URIError on a lone surrogate. */
const headerSafeComponent = (value: string): string => value.replace(/[^A-Za-z0-9_.!~*'()-]/gu, percentBytes);

/**
 * The POST's headers: IIS's names (bits-protocol.md §7) plus the presigned links and identity.
 * Keys, paths and the principal are percent-encoded UTF-8 (README "Upload-reply and notifications").
 */
function noticeHeaders(notice: UploadNotice): Record<string, string> {
  const common = {
    'User-Agent': NOTIFICATION_USER_AGENT,
    Accept: '*/*',
    [NOTIFICATION_HEADERS.originalRequestUrl]: headerSafeUrl(notice.originalRequestUrl),
    [NOTIFICATION_HEADERS.sessionId]: notice.sessionId,
    [NOTIFICATION_HEADERS.principal]: headerSafeComponent(notice.principal),
  };
  if (notice.type === 'by-value') {
    return {
      ...common,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(notice.size),
    };
  }
  return {
    ...common,
    [NOTIFICATION_HEADERS.requestDataFileName]: headerSafeName(notice.dataFileName),
    [NOTIFICATION_HEADERS.requestDataFileUrl]: headerSafeUrl(notice.dataFileUrl),
    ...(notice.responseFileName === undefined
      ? {}
      : { [NOTIFICATION_HEADERS.responseDataFileName]: headerSafeName(notice.responseFileName) }),
    ...(notice.responseFileUrl === undefined
      ? {}
      : { [NOTIFICATION_HEADERS.responseDataFileUrl]: headerSafeUrl(notice.responseFileUrl) }),
    'Content-Length': '0',
  };
}

/** Reads the answer's body, refusing (and dropping the connection) past the reply limit. */
function readAnswer(response: IncomingMessage, limit: number): Promise<ApplicationAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    response.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > limit) {
        response.destroy();
        reject(new ReplyTooLargeError(`the application answered more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.on('error', (error) =>
      reject(new ApplicationUnreachableError('the answer broke off', { cause: error })),
    );
    response.on('end', () => {
      const staticUrl = response.headers[NOTIFICATION_HEADERS.staticResponseUrl];
      resolve({
        status: response.statusCode ?? 0,
        body: Buffer.concat(chunks),
        ...(typeof staticUrl === 'string' ? { staticResponseUrl: staticUrl.trim() } : {}),
      });
    });
  });
}

/**
 * The application as an http(s) URL, IIS-style: one POST per completed upload, with `Content-Length:
 * 0` and the object's names and links in headers (by reference), or the object streamed as the body
 * (by value, never held in memory whole). Redirects are not followed: a 3xx is the application's
 * answer. The answer's status is returned as it is; the handler decides what is an error.
 */
export class HttpNotificationTarget implements NotificationTarget {
  private readonly url: URL;

  constructor(
    url: string,
    private readonly maxReplyBytes: number = MAX_REPLY_BYTES,
  ) {
    this.url = new URL(url);
  }

  async notify(notice: UploadNotice, signal: AbortSignal): Promise<ApplicationAnswer> {
    const source = notice.type === 'by-value' ? await notice.openBody() : undefined;
    const body = source === undefined || source instanceof Readable ? source : Readable.from(source);
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise<ApplicationAnswer>((resolve, reject) => {
      let request: http.ClientRequest | undefined;
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        // However the call ends (answer, early answer, abort, failure), the object's stream goes:
        // left open, it would hold one of the S3 client's pooled sockets. A request whose body was
        // cut short cannot carry another one on its connection either.
        body?.destroy();
        if (request !== undefined && !request.writableFinished) request.destroy();
        outcome();
      };
      try {
        request = transport.request(this.url, { method: 'POST', headers: noticeHeaders(notice), signal });
      } catch (error) {
        // A header or option Node refuses: the application gets no request at all.
        const message = error instanceof Error ? error.message : String(error);
        settle(() => reject(new ApplicationUnreachableError(`POST not sent: ${message}`, { cause: error })));
        return;
      }
      request.on('response', (response) => {
        readAnswer(response, this.maxReplyBytes).then(
          (answer) => settle(() => resolve(answer)),
          (error: unknown) => settle(() => reject(error)),
        );
      });
      // After an answer (an application may answer before reading the whole body), the broken
      // upload stream that follows is no failure: settle has already happened then.
      request.on('error', (error) => {
        settle(() =>
          reject(
            signal.aborted
              ? signal.reason
              : new ApplicationUnreachableError(`POST to the application failed: ${error.message}`, {
                  cause: error,
                }),
          ),
        );
      });
      if (body === undefined) {
        request.end();
        return;
      }
      // A failing read of the object is our storage's fault, not the application's: passed on as is.
      body.on('error', (error) => settle(() => reject(error)));
      body.pipe(request);
    });
  }
}
