import { type DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { stagedChunkKey, stagingFolder } from '../lambda/assembler/staging';
import { discardSession } from '../lambda/handlers/session-access';
import type { HandlerDeps } from '../lambda/handlers/types';
import type { PartRecord, Session, SessionState, StagedChunk } from '../lambda/ports/session-store';
import { readSessionId } from '../lambda/protocol/session-id';

/**
 * What the admin commands work with: the Lambda's own HandlerDeps (built by composeDeps, so a cancel
 * goes through exactly the code Cancel-Session runs) plus the DynamoDB client for the one thing the
 * SessionStore port has no method for: scanning the table.
 */
export interface AdminContext {
  readonly deps: HandlerDeps;
  readonly documents: DynamoDBDocumentClient;
  /** Scan page size (DynamoDB `Limit`); unset means DynamoDB's 1 MB pages. Tests set it small. */
  readonly pageSize?: number;
}

/** One session as the admin commands show it. Times are ISO strings, sizes bytes. */
export interface SessionSummary {
  readonly id: string;
  readonly owner: string;
  readonly key: string;
  readonly state: SessionState;
  readonly nextOffset: number;
  /** Declared file size; null until the first fragment declares it. */
  readonly totalSize: number | null;
  /** nextOffset / totalSize in percent with one decimal; null while totalSize is unknown. */
  readonly progressPercent: number | null;
  readonly partsDone: number;
  readonly stagedChunks: number;
  readonly createdAt: string;
  readonly ageSeconds: number;
  readonly expiresAt: string;
  /** Past expiresAt: the server treats the session as gone; `sessions sweep` removes it. */
  readonly expired: boolean;
}

export class SessionIdError extends Error {
  override name = 'SessionIdError';
}

/** Accepts `{GUID}` or a bare GUID in any case; returns the canonical `{UPPER-CASE GUID}`. */
export function normaliseSessionId(raw: string): string {
  const trimmed = raw.trim();
  const id = readSessionId(trimmed.startsWith('{') ? trimmed : `{${trimmed}}`);
  if (id === undefined) throw new SessionIdError(`not a session id: "${raw}" (expected {GUID})`);
  return id;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function summarise(session: Session, now: number): SessionSummary {
  const total = session.totalSize;
  return {
    id: session.id,
    owner: session.owner,
    key: session.key,
    state: session.state,
    nextOffset: session.nextOffset,
    totalSize: total ?? null,
    progressPercent:
      total === undefined ? null : total === 0 ? 100 : Math.floor((session.nextOffset / total) * 1000) / 10,
    partsDone: session.partsDone,
    stagedChunks: session.staged.length,
    createdAt: iso(session.createdAt),
    ageSeconds: Math.max(0, Math.floor((now - session.createdAt) / 1000)),
    expiresAt: iso(session.expiresAt),
    expired: session.expiresAt <= now,
  };
}

type Item = Record<string, unknown>;

const SESSION_STATES: readonly SessionState[] = ['open', 'closed', 'cancelled'];

/** Reads the META item fields the summary needs, refusing an item this code did not write. */
function toSession(item: Item): Session {
  const text = (name: string): string => {
    const value = item[name];
    if (typeof value !== 'string') throw new Error(`item ${String(item.pk)} has no valid ${name}`);
    return value;
  };
  const number = (name: string): number => {
    const value = item[name];
    if (typeof value !== 'number') throw new Error(`item ${String(item.pk)} has no valid ${name}`);
    return value;
  };
  const staged = Array.isArray(item.staged) ? (item.staged as Session['staged']) : [];
  const state = text('state');
  if (!SESSION_STATES.includes(state as SessionState))
    throw new Error(`item ${String(item.pk)} has state ${state}`);
  return {
    id: text('id'),
    key: text('key'),
    originalPath: text('originalPath'),
    uploadId: text('uploadId'),
    owner: text('owner'),
    state: state as SessionState,
    ...(typeof item.totalSize === 'number' ? { totalSize: item.totalSize } : {}),
    ...(typeof item.partSize === 'number' ? { partSize: item.partSize } : {}),
    nextOffset: number('nextOffset'),
    partsDone: number('partsDone'),
    staged,
    createdAt: number('createdAt'),
    expiresAt: number('expiresAt'),
  };
}

interface ScanFilter {
  /** Only sessions in this state; unset means every state. */
  readonly state?: SessionState;
  /** Only sessions with expiresAt <= this (epoch ms). */
  readonly expiredAt?: number;
}

/**
 * Every META item matching the filter, page by page (a Scan filtered to `sk = META`: the table has
 * no index on state, and admin listings are rare enough that a Scan is the honest tool).
 */
async function scanSessions(context: AdminContext, filter: ScanFilter): Promise<Session[]> {
  const conditions = ['sk = :meta'];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':meta': 'META' };
  if (filter.state !== undefined) {
    conditions.push('#state = :state');
    names['#state'] = 'state';
    values[':state'] = filter.state;
  }
  if (filter.expiredAt !== undefined) {
    conditions.push('expiresAt <= :now');
    values[':now'] = filter.expiredAt;
  }
  const pages = paginateScan(
    { client: context.documents, ...(context.pageSize === undefined ? {} : { pageSize: context.pageSize }) },
    {
      TableName: context.deps.config.tableName,
      FilterExpression: conditions.join(' AND '),
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
      ConsistentRead: true,
    },
  );
  const sessions: Session[] = [];
  for await (const page of pages) sessions.push(...(page.Items ?? []).map(toSession));
  return sessions.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
}

/** Open sessions (all states with `all`), oldest first. */
export async function listSessions(
  context: AdminContext,
  options: { readonly all?: boolean } = {},
): Promise<SessionSummary[]> {
  const now = context.deps.now();
  const sessions = await scanSessions(context, options.all ? {} : { state: 'open' });
  return sessions.map((session) => summarise(session, now));
}

export interface SessionDetail {
  readonly session: SessionSummary & {
    readonly uploadId: string;
    readonly originalPath: string;
    readonly partSize: number | null;
    /** With the object key each chunk is staged under (derived, not stored). */
    readonly staged: readonly (StagedChunk & { readonly key: string })[];
  };
  readonly parts: readonly PartRecord[];
}

/** The META record and every part record of one session, or undefined when there is none. */
export async function showSession(context: AdminContext, rawId: string): Promise<SessionDetail | undefined> {
  const { deps } = context;
  const session = await deps.sessions.getSession(normaliseSessionId(rawId));
  if (session === undefined) return undefined;
  const parts = await deps.sessions.listParts(session.id);
  return {
    session: {
      ...summarise(session, deps.now()),
      uploadId: session.uploadId,
      originalPath: session.originalPath,
      partSize: session.partSize ?? null,
      staged: session.staged.map((chunk) => ({
        ...chunk,
        key: stagedChunkKey(stagingFolder(deps.config.stagingPrefix, session.id), chunk),
      })),
    },
    parts,
  };
}

export type CancelOutcome = 'cancelled' | 'not-found' | 'already-closed' | 'already-cancelled';

export interface CancelResult {
  readonly id: string;
  readonly outcome: CancelOutcome;
}

/**
 * Aborts a session as Cancel-Session does (discardSession: abort the multipart upload, delete staged
 * objects and part records, mark it cancelled), whoever owns it and even when it has expired.
 * Finished sessions are left alone.
 */
export async function cancelSession(context: AdminContext, rawId: string): Promise<CancelResult> {
  const { deps } = context;
  const id = normaliseSessionId(rawId);
  const session = await deps.sessions.getSession(id);
  if (session === undefined) return { id, outcome: 'not-found' };
  // A session stuck in `closing` (Close crashed and was never retried) is discarded like an open one.
  if (session.state === 'closed' || session.state === 'cancelled')
    return { id, outcome: `already-${session.state}` };
  await discardSession(deps, session);
  return { id, outcome: 'cancelled' };
}

/**
 * How long after its expiry a session may be swept: longer than the BITS function's timeout (29 s),
 * so no invocation that loaded the session just before it expired is still writing a part or a
 * staged chunk. The scheduled sweeper (lambda/cleanup) waits as long by default.
 */
export const DEFAULT_SWEEP_GRACE_SECONDS = 300;

export interface SweepOptions {
  readonly dryRun: boolean;
  /** Only sessions that expired at least this long ago (default DEFAULT_SWEEP_GRACE_SECONDS). */
  readonly graceSeconds?: number;
}

export interface SweepResult {
  readonly now: string;
  /** Open sessions that expired at or before this instant are swept: now minus the grace period. */
  readonly cutoff: string;
  readonly dryRun: boolean;
  /** Open sessions expired by the cutoff: the ones the sweep discards (or would). */
  readonly expired: readonly SessionSummary[];
  /** Ids discarded by this run (none with dryRun). */
  readonly discarded: readonly string[];
  readonly failed: readonly { readonly id: string; readonly error: string }[];
}

/**
 * Finds open sessions whose expiresAt passed the cutoff (now minus the grace period); no client can
 * use them any more (every packet gets BG_E_SESSION_NOT_FOUND and the conditional update refuses
 * them). Unless `dryRun`, discards each the way Cancel-Session does. One failure does not stop the
 * others; it is reported.
 */
export async function sweepExpired(context: AdminContext, options: SweepOptions): Promise<SweepResult> {
  const { deps } = context;
  const now = deps.now();
  const cutoff = now - (options.graceSeconds ?? DEFAULT_SWEEP_GRACE_SECONDS) * 1000;
  const expired = await scanSessions(context, { state: 'open', expiredAt: cutoff });
  const discarded: string[] = [];
  const failed: { id: string; error: string }[] = [];
  if (!options.dryRun) {
    for (const candidate of expired) {
      try {
        // Re-read strongly consistently: discard only what is still open and expired now.
        const session = await deps.sessions.getSession(candidate.id);
        if (session === undefined || session.state !== 'open' || session.expiresAt > cutoff) continue;
        await discardSession(deps, session);
        discarded.push(session.id);
      } catch (error) {
        failed.push({ id: candidate.id, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  return {
    now: iso(now),
    cutoff: iso(cutoff),
    dryRun: options.dryRun,
    expired: expired.map((session) => summarise(session, now)),
    discarded,
    failed,
  };
}
