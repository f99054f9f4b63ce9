/** The BITS upload client library: what other code (and the CLI) may import. */
export {
  ApplicationError,
  BitsClientError,
  CancelledError,
  NetworkError,
  ProtocolError,
  type RefusalDetails,
  ServerRefusedError,
  UsageError,
} from './errors';
export type { UploadEvent, UploadProgress } from './events';
export { hresultName } from './hresult';
export { DEFAULT_REPLY_RANGE_SIZE, type ReplyOptions, type ReplyResult } from './reply';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry';
export { type SmokeOptions, type SmokePacket, type SmokeReport, smokeTest } from './smoke';
export { formatBytes, parseByteSize } from './units';
export {
  DEFAULT_FRAGMENT_SIZE,
  MIN_FRAGMENT_SIZE,
  type UploadOptions,
  type UploadResult,
  uploadFile,
} from './upload';
export type { Credentials } from './url';
