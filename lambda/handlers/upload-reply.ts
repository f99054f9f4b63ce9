import { setTimeout as sleep } from 'node:timers/promises';
import { ObjectChangedError, StoreUnavailableError } from '../ports/errors';
import {
  type ApplicationAnswer,
  ApplicationFailedError,
  ApplicationUnreachableError,
  ReplyTooLargeError,
  type UploadNotice,
} from '../ports/notification-target';
import type { Session, StoredReply } from '../ports/session-store';
import type { ObjectContent } from '../ports/upload-store';
import { BitsError } from '../protocol/errors';
import {
  applicationReplyKey,
  attemptFolder,
  isSendableReplyUrl,
  MAX_REPLY_BYTES,
  originalRequestUrl,
  replyFolder,
  replyUrlFor,
  servedReplyKey,
} from '../protocol/reply';
import type { BitsRequest } from '../protocol/request';
import type { BitsAck } from '../protocol/response';
import { commitUpload } from './complete-upload';
import { discardSession, sessionExpiry } from './session-access';
import type { HandlerDeps } from './types';

/**
 * Upload-reply (bits-protocol.md §4 rule 6, §7; README "Upload-reply and notifications"): once the
 * fragment with the last byte is stored, the session is sealed (`closing`), its object completed at
 * the key, the application called once, and its answer stored in the session record. The session
 * stays `closing` with its reply until Close-Session, Cancel-Session or expiry, so the sweeper and
 * every existing path treat it as a sealed session whose object is complete.
 *
 * One call per upload, whatever the retries and parallel Lambdas: the caller takes a claim with a
 * DynamoDB condition; others wait for the answer it stores. A claim outlives the function's 29-s
 * timeout, so a claim can only be taken over from a request that is dead. Sending the object twice
 * happens only then (a crash between completion and storing the answer), or after an application
 * error, which is never stored, so the client's retry notifies again (MC-BUP §3.2.5.1.2).
 *
 * Each claim is an attempt with its own folder (named by the claim's instant): the application
 * writes its reply there through a presigned PUT, the server copies it to the reply it serves in
 * the same folder, and records that object's size and ETag under the claim. Downloads read it
 * pinned to the ETag, so nothing written later (a late PUT, an attempt that outlived its claim)
 * can change a recorded reply.
 */

/** A claim lasts at least this long: longer than the function can run (29 s). */
const MIN_CLAIM_SECONDS = 30;
/** How often a request that found another one notifying looks for its answer. */
const POLL_MS = 100;
/** The presigned GET of the upload: long enough for an application that reads it after answering. */
const DATA_LINK_SECONDS = 300;
/** The presigned PUT of the application's reply: until the answer is due, and a little more. */
const REPLY_LINK_MARGIN_SECONDS = 5;
/** Kept back from the request's remaining time for storing and recording the reply after the answer. */
const STORE_MARGIN_MS = 3000;
/** Kept back by a request that waits for another's answer, to send its own answer in time. */
const ANSWER_MARGIN_MS = 1000;
/** Calling the application with less time than this cannot end in a stored reply. */
const MIN_CALL_MS = 1000;

/** True when the final fragment notifies an application (config.notificationType). */
export const notificationsOn = (deps: HandlerDeps): boolean => deps.config.notificationType !== 'none';

const claimMs = (deps: HandlerDeps): number =>
  Math.max(deps.config.notificationTimeoutSeconds + 10, MIN_CLAIM_SECONDS) * 1000;

/** The final fragment's ack: everything received, and where the reply is (§3.3). */
const replyAck = (session: Session, reply: StoredReply): BitsAck => ({
  status: 200,
  sessionId: session.id,
  receivedContentRange: session.totalSize ?? session.nextOffset,
  replyUrl: reply.url,
});

const ended = (id: string, why: string) => new BitsError('SESSION_NOT_FOUND', `session ${id} ${why}`);

/** The session as it is now, if it is still a sealed, unexpired upload-reply session. */
function live(deps: HandlerDeps, session: Session | undefined, id: string): Session {
  if (session === undefined || session.state !== 'closing' || session.expiresAt <= deps.now()) {
    throw ended(id, `ended while its reply was prepared (${session?.state ?? 'gone'})`);
  }
  return session;
}

/**
 * Seals a complete session. Its expiry restarts, capped by the maximum session age while the
 * multipart upload still exists (keepForReply lifts the cap once the object is complete).
 */
async function seal(deps: HandlerDeps, session: Session): Promise<Session> {
  if (session.state === 'closing') return session;
  const expiresAt = sessionExpiry(deps, session.createdAt);
  const sealed = await deps.sessions.finishSession(session.id, 'closing', expiresAt, {
    nextOffset: session.nextOffset,
  });
  if (sealed.applied) return { ...session, state: 'closing', staged: [], expiresAt };
  return live(deps, sealed.current, session.id);
}

/**
 * Once the object is complete, the multipart lifecycle rule (counted from the session's creation)
 * no longer concerns the session, so its expiry moves to a whole session timeout from now, past
 * the maximum session age if need be: the reply must stay downloadable that long, and the claim
 * (which needs the session to outlive it) must not be refused for an old session. The reply
 * prefix's lifecycle rule outlasts it (infra/settings.ts).
 */
async function keepForReply(deps: HandlerDeps, session: Session): Promise<Session> {
  const expiresAt = deps.now() + deps.config.sessionTimeoutSeconds * 1000;
  if (expiresAt <= session.expiresAt) return session;
  const kept = await deps.sessions.finishSession(session.id, 'closing', expiresAt);
  if (kept.applied) return { ...session, expiresAt };
  return live(deps, kept.current, session.id);
}

/** Milliseconds this request may still spend, `margin` kept back, at most `limit`. */
function budget(deps: HandlerDeps, limit: number, margin: number): number {
  const remaining = deps.remainingMs?.();
  return remaining === undefined ? limit : Math.min(limit, remaining - margin);
}

/**
 * Another session completed the same key since ours did (overwrites allowed): the application must
 * never get its bytes under our id. The upload has ended for the client, as when a Close finds
 * its object replaced; the session is discarded (its object is the other session's, and stays).
 */
async function objectReplaced(deps: HandlerDeps, session: Session): Promise<BitsError> {
  await discardSession(deps, session);
  return ended(session.id, `lost its object at ${session.key} to another upload`);
}

/** What the application is told: names, links, metadata; the body only when it is sent. */
async function buildNotice(
  deps: HandlerDeps,
  session: Session,
  request: BitsRequest,
  attempt: number,
): Promise<UploadNotice> {
  const { links, config } = deps;
  if (links === undefined) throw new Error('notifications are on but no object links are wired');
  const object = await deps.uploads.inspectObject(session.key);
  if (object?.metadata['bits-session-id'] !== session.id) throw await objectReplaced(deps, session);
  const common = {
    bucket: links.bucket,
    key: session.key,
    sessionId: session.id,
    principal: session.owner,
    size: object.size,
    metadata: object.metadata,
    originalRequestUrl: originalRequestUrl(request.headers, request.path),
    dataFileName: links.objectName(session.key),
    // Pinned to the version checked above on a versioned bucket (README on unversioned ones).
    dataFileUrl: await links.presignGet(session.key, DATA_LINK_SECONDS, object.versionId),
    // Pinned to the ETag checked above: a replacement since then is never sent as ours.
    openBody: async () => {
      const content = await deps.uploads.readObject(session.key, undefined, object.etag);
      if (content === undefined) throw new ObjectChangedError(`${session.key} is gone`);
      return content.body;
    },
  };
  // By value the reply is the answer's body: the application gets no link to write one.
  if (config.notificationType === 'by-value') return { type: 'by-value', ...common };
  const reply = applicationReplyKey(config.replyPrefix, session.id, attempt);
  return {
    type: 'by-reference',
    ...common,
    responseFileName: links.objectName(reply),
    responseFileUrl: await links.presignPut(
      reply,
      config.notificationTimeoutSeconds + REPLY_LINK_MARGIN_SECONDS,
    ),
  };
}

const errorText = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * The target's failures as BITS errors with context 0x7. Our own storage's transient faults (a
 * by-value read of the object) pass unchanged; anything else that broke inside the call (a header
 * Node refuses, a bug in a target) left the application without a usable request: an application
 * error the client retries (502), never our E_FAIL.
 */
function asApplicationError(error: unknown, timedOut: boolean, allowedMs: number): unknown {
  if (timedOut) return new BitsError('NOTIFICATION_TIMEOUT', `no answer within ${allowedMs} ms`);
  if (error instanceof BitsError || error instanceof StoreUnavailableError) return error;
  if (error instanceof ApplicationFailedError) {
    return new BitsError('APPLICATION_ERROR', error.message, { cause: error });
  }
  if (error instanceof ApplicationUnreachableError) {
    return new BitsError('APPLICATION_UNREACHABLE', error.message, { cause: error });
  }
  if (error instanceof ReplyTooLargeError) {
    return new BitsError('REPLY_TOO_LARGE', error.message, { cause: error });
  }
  return new BitsError('APPLICATION_UNREACHABLE', `the notification failed: ${errorText(error)}`, {
    cause: error,
  });
}

/**
 * Calls the application within the configured timeout (T44), or within what is left of this
 * request (the time spent storing, completing and presigning counts) less the time storing its
 * reply takes. The timer does not rely on the target honouring the abort signal: the race ends at
 * the deadline whatever the target does.
 */
async function callApplication(
  deps: HandlerDeps,
  session: Session,
  notice: UploadNotice,
): Promise<ApplicationAnswer> {
  const { notifier } = deps;
  if (notifier === undefined) throw new Error('notifications are on but no notification target is wired');
  const allowedMs = Math.max(0, budget(deps, deps.config.notificationTimeoutSeconds * 1000, STORE_MARGIN_MS));
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new BitsError('NOTIFICATION_TIMEOUT', `no answer within ${allowedMs} ms`);
      controller.abort(error);
      reject(error);
    }, allowedMs);
  });
  // A target that throws instead of rejecting fails the call like any other failure of it.
  const call = Promise.resolve().then(() => notifier.notify(notice, controller.signal));
  // Whichever loses the race settles later, unobserved.
  call.catch(() => undefined);
  deadline.catch(() => undefined);
  try {
    const answer = await Promise.race([call, deadline]);
    if (answer.status < 200 || answer.status > 299) {
      throw new BitsError('APPLICATION_ERROR', `the application answered ${answer.status}`, {
        applicationStatus: answer.status,
      });
    }
    return answer;
  } catch (error) {
    // The by-value read found another object at the key than the one checked.
    if (error instanceof ObjectChangedError && !controller.signal.aborted) {
      throw await objectReplaced(deps, session);
    }
    throw asApplicationError(error, controller.signal.aborted, allowedMs);
  } finally {
    clearTimeout(timer);
  }
}

const tooLarge = (bytes: number | string) =>
  new BitsError('REPLY_TOO_LARGE', `the application's reply has ${bytes} bytes`);

/** Reads a reply the application wrote, refusing it unread past MAX_REPLY_BYTES. */
async function readCapped(content: ObjectContent): Promise<Buffer> {
  if (content.size > MAX_REPLY_BYTES) {
    // Returning the iterator ends the stream (the S3 socket goes back to the pool).
    await content.body[Symbol.asyncIterator]().return?.();
    throw tooLarge(content.size);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of content.body) {
    length += chunk.length;
    if (length > MAX_REPLY_BYTES) throw tooLarge(`more than ${MAX_REPLY_BYTES}`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * Keeps the application's reply: a static URL as it is; otherwise an object only the server
 * writes, in this attempt's folder, holding by reference the object the application wrote at its
 * link if there is one (read once, here), else the answer's body (possibly empty). Its size and
 * ETag are what the record keeps and downloads are pinned to.
 */
async function storeReply(
  deps: HandlerDeps,
  session: Session,
  answer: ApplicationAnswer,
  attempt: number,
): Promise<StoredReply> {
  const url = answer.staticResponseUrl;
  if (url !== undefined) {
    if (!isSendableReplyUrl(url)) throw new BitsError('INVALID_REPLY_URL', 'unusable static reply URL');
    return { url };
  }
  const { replyPrefix, notificationType } = deps.config;
  const written =
    notificationType === 'by-reference'
      ? await deps.uploads.readObject(applicationReplyKey(replyPrefix, session.id, attempt))
      : undefined;
  const bytes = written === undefined ? answer.body : await readCapped(written);
  if (bytes.length > MAX_REPLY_BYTES) throw tooLarge(bytes.length);
  const key = servedReplyKey(replyPrefix, session.id, attempt);
  await deps.uploads.putObject(key, bytes, { 'bits-session-id': session.id }, { overwrite: true });
  const stored = await deps.uploads.inspectObject(key);
  if (stored?.size !== bytes.length) throw new Error(`reply ${key} was not stored as written`);
  return {
    url: replyUrlFor(session.id),
    object: { key, size: bytes.length, etag: stored.etag, storedAt: deps.now() },
  };
}

/** Best effort: deletes what an attempt stored that no record names. */
async function discardAttempt(deps: HandlerDeps, id: string, attempt: number): Promise<void> {
  await deps.uploads
    .deleteReplyFolder(attemptFolder(deps.config.replyPrefix, id, attempt))
    .catch((error: unknown) =>
      deps.logger.warn(
        'objects of an unrecorded notification attempt not deleted; Close, Cancel or the sweeper removes them',
        {
          sessionId: id,
          error,
        },
      ),
    );
}

/** Holding the claim: call the application, store its reply, record it. */
async function notifyAndRecord(
  deps: HandlerDeps,
  session: Session,
  request: BitsRequest,
  claimedUntil: number,
): Promise<BitsAck> {
  const started = performance.now();
  deps.metrics?.record('Notifications', 1);
  let reply: StoredReply;
  try {
    // No reply is recorded (the claim requires it), so all that is there is left over from
    // attempts that died; nothing names it.
    await deps.uploads
      .deleteReplyFolder(replyFolder(deps.config.replyPrefix, session.id))
      .catch((error: unknown) =>
        deps.logger.warn('stale reply objects not deleted', { sessionId: session.id, error }),
      );
    const notice = await buildNotice(deps, session, request, claimedUntil);
    const answer = await callApplication(deps, session, notice);
    reply = await storeReply(deps, session, answer, claimedUntil);
  } catch (error) {
    // Nothing recorded: a retry of the final fragment (the client's, after this error) notifies again.
    deps.metrics?.record('NotificationFailures', 1);
    await deps.sessions.releaseNotification(session.id, claimedUntil).catch(() => undefined);
    await discardAttempt(deps, session.id, claimedUntil);
    throw error;
  } finally {
    deps.metrics?.record('NotificationLatency', performance.now() - started);
  }
  const recorded = await deps.sessions.recordReply(session.id, claimedUntil, reply);
  if (recorded.applied) return replyAck(session, reply);
  // Not ours to record: Close or Cancel ended the session (their cleanup may have run before our
  // writes), or this request outlived its claim and another took over.
  await discardAttempt(deps, session.id, claimedUntil);
  const current = recorded.current;
  if (current?.state === 'closing' && current.reply !== undefined) return replyAck(current, current.reply);
  if (current?.state === 'closing' && current.expiresAt > deps.now()) {
    throw new BitsError('SERVER_BUSY', `session ${session.id}: the claim passed to another request`);
  }
  throw ended(session.id, 'ended while the application answered');
}

/**
 * Another request holds the claim: wait for its answer while it may still come (its claim runs and
 * our time allows), polling the record. Undefined when the claim went without an answer.
 */
async function awaitAnswer(
  deps: HandlerDeps,
  id: string,
  realDeadline: number,
): Promise<Session | undefined> {
  while (performance.now() < realDeadline) {
    await sleep(POLL_MS);
    const current = live(deps, await deps.sessions.getSession(id), id);
    if (current.reply !== undefined) return current;
    if (current.notifyingUntil === undefined || current.notifyingUntil <= deps.now()) return undefined;
  }
  throw new BitsError('SERVER_BUSY', `session ${id}: another request is still notifying the application`);
}

/** Calls the application unless an answer is stored or being fetched by another request. */
async function notifyOnce(deps: HandlerDeps, session: Session, request: BitsRequest): Promise<BitsAck> {
  // Waiting ends before the request's own end: a transient 503 beats a front's 504.
  const waitMs = budget(deps, (deps.config.notificationTimeoutSeconds + 2) * 1000, ANSWER_MARGIN_MS);
  const realDeadline = performance.now() + waitMs;
  for (;;) {
    // Too little time left to call the application and keep its answer: the client retries.
    if (budget(deps, Number.POSITIVE_INFINITY, STORE_MARGIN_MS) < MIN_CALL_MS) {
      throw new BitsError('SERVER_BUSY', `session ${session.id}: no time left to notify the application`);
    }
    const now = deps.now();
    const until = now + claimMs(deps);
    const claim = await deps.sessions.claimNotification(session.id, { now, until });
    if (claim.applied) return notifyAndRecord(deps, session, request, until);
    const current = live(deps, claim.current, session.id);
    if (current.reply !== undefined) return replyAck(current, current.reply);
    if (current.notifyingUntil === undefined || current.notifyingUntil <= now) {
      // No one holds a claim, so the session itself refused: it would expire before the answer.
      throw ended(session.id, 'expires before the application could answer');
    }
    const answered = await awaitAnswer(deps, session.id, realDeadline);
    if (answered?.reply !== undefined) return replyAck(answered, answered.reply);
  }
}

/**
 * The ack of a fragment that completed an upload-reply session, or of a retry of it: seal, complete
 * the object (the application must see all of it), notify once, answer with BITS-Reply-URL.
 */
export async function acknowledgeWithReply(
  deps: HandlerDeps,
  session: Session,
  request: BitsRequest,
): Promise<BitsAck> {
  if (session.state === 'closing' && session.reply !== undefined) return replyAck(session, session.reply);
  const sealed = await seal(deps, session);
  if (sealed.reply !== undefined) return replyAck(sealed, sealed.reply);
  await commitUpload(deps, sealed);
  return notifyOnce(deps, await keepForReply(deps, sealed), request);
}
