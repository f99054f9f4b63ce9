/** Request header names, lower case as looked up in a HeaderMap. */
export const HEADERS = {
  packetType: 'bits-packet-type',
  sessionId: 'bits-session-id',
  supportedProtocols: 'bits-supported-protocols',
  contentRange: 'content-range',
  contentLength: 'content-length',
  contentEncoding: 'content-encoding',
  contentName: 'content-name',
  methodOverride: 'x-http-method-override',
  authorization: 'authorization',
  range: 'range',
} as const;

/**
 * Headers of the POST to the server application (upload-reply), spelled as IIS sends them (RX-2,
 * bits-protocol.md §7, D16 of §10); the `…-URL` and identity headers are ours: S3 objects are not
 * files the application can open, so it gets presigned links next to the `s3://` names.
 */
export const NOTIFICATION_HEADERS = {
  originalRequestUrl: 'BITS-Original-Request-URL',
  requestDataFileName: 'BITS-Request-DataFile-Name',
  requestDataFileUrl: 'BITS-Request-DataFile-URL',
  responseDataFileName: 'BITS-Response-DataFile-Name',
  responseDataFileUrl: 'BITS-Response-DataFile-URL',
  sessionId: 'BITS-Session-Id',
  /** The uploader, percent-encoded UTF-8 (a header value must be ASCII). */
  principal: 'BITS-Principal',
  /** In the application's answer: the reply is at this absolute URL (lower case: looked up). */
  staticResponseUrl: 'bits-static-response-url',
} as const;

/** Response header names, spelled as IIS sends them (real-exchanges.md). */
export const RESPONSE_HEADERS = {
  packetType: 'BITS-Packet-Type',
  sessionId: 'BITS-Session-Id',
  protocol: 'BITS-Protocol',
  receivedContentRange: 'BITS-Received-Content-Range',
  replyUrl: 'BITS-Reply-URL',
  errorCode: 'BITS-Error-Code',
  error: 'BITS-Error',
  errorContext: 'BITS-Error-Context',
  acceptEncoding: 'Accept-Encoding',
  contentLength: 'Content-Length',
  pragma: 'Pragma',
  allow: 'Allow',
  wwwAuthenticate: 'WWW-Authenticate',
} as const;

/** Request headers with lower-case names; repeated headers joined with ", " (RFC 9110 §5.3). */
export type HeaderMap = Readonly<Record<string, string>>;

/** Header values above this size are refused (MC-BUP §2.2.1 note <2>; §12 D19). */
export const MAX_HEADER_VALUE_BYTES = 4096;
