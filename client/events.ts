/** Where the upload stands, after each Fragment Ack. */
export interface UploadProgress {
  /** Bytes the server holds (its last BITS-Received-Content-Range). */
  readonly bytesAcked: number;
  readonly totalBytes: number;
  readonly fragmentSize: number;
  readonly elapsedMs: number;
}

/** What happened on the way, for logs; the upload acts on none of it. */
export type UploadEvent =
  /** One HTTP exchange: `status` when answered, `error` when not. */
  | {
      readonly type: 'packet';
      readonly packetType: string;
      readonly url: string;
      readonly rttMs: number;
      readonly status?: number;
      readonly error?: string;
    }
  | { readonly type: 'session'; readonly sessionId: string; readonly protocol: string }
  /** The server named a farm node: later packets go there (§3.2). */
  | { readonly type: 'host-id'; readonly hostId: string; readonly url: string }
  /** The Host-Id node stayed unreachable past BITS-Host-Id-Fallback-Timeout: back to the original host. */
  | { readonly type: 'host-fallback'; readonly url: string }
  | { readonly type: 'auth'; readonly scheme: 'Basic' }
  | {
      readonly type: 'retry';
      readonly packetType: string;
      readonly attempt: number;
      readonly retries: number;
      readonly delayMs: number;
      readonly reason: string;
    }
  /** A 413: fragments are now this size. */
  | { readonly type: 'shrink'; readonly fragmentSize: number }
  /** The server's offset is not the end of the fragment just sent (416, lost Ack, forgotten bytes). */
  | { readonly type: 'resync'; readonly expected: number; readonly received: number; readonly status: number }
  /** BG_E_SESSION_NOT_FOUND: a new session from offset 0. */
  | { readonly type: 'restart'; readonly restart: number; readonly reason: string }
  | { readonly type: 'cancel'; readonly acknowledged: boolean; readonly detail?: string }
  /**
   * Upload-reply: bytes of the reply written so far, after each GET (§7). `totalBytes` once the
   * server told it (Content-Range or Content-Length).
   */
  | { readonly type: 'reply'; readonly url: string; readonly bytes: number; readonly totalBytes?: number };
