import { SessionExistsError } from '../../lambda/ports/errors';
import type {
  ConditionalResult,
  PartRecord,
  Session,
  SessionProgress,
  SessionStore,
  StoredReply,
} from '../../lambda/ports/session-store';

/** DynamoDB's item size limit, enforced so a growing META record fails here as it would on AWS. */
const MAX_ITEM_BYTES = 400 * 1024;

/**
 * In-memory SessionStore with DynamoDB's rules: conditional writes, copies in and out (no shared
 * references), the item size limit. The contract suite keeps it honest against the real adapter.
 */
export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly parts = new Map<string, Map<number, PartRecord>>();
  /** Largest META record written, in bytes of JSON (tests assert the ≤ 16 KB design bound). */
  largestSessionBytes = 0;
  writes = 0;

  async createSession(session: Session): Promise<void> {
    if (this.sessions.has(session.id)) throw new SessionExistsError(`session ${session.id} exists`);
    this.store(session);
  }

  async getSession(id: string): Promise<Session | undefined> {
    const session = this.sessions.get(id);
    return session === undefined ? undefined : structuredClone(session);
  }

  async advanceSession(
    id: string,
    expected: { readonly nextOffset: number; readonly now: number },
    progress: SessionProgress,
  ): Promise<ConditionalResult> {
    const current = this.sessions.get(id);
    if (
      current === undefined ||
      current.state !== 'open' ||
      current.nextOffset !== expected.nextOffset ||
      current.expiresAt <= expected.now
    ) {
      return this.failed(current);
    }
    const { expiresAt, ...rest } = structuredClone(progress);
    // Without a new expiry the stored one stays, as the adapter leaves the attribute alone.
    this.store({ ...current, ...rest, ...(expiresAt === undefined ? {} : { expiresAt }) });
    return { applied: true };
  }

  async finishSession(
    id: string,
    state: 'closing' | 'closed' | 'cancelled',
    expiresAt: number,
    expected?: { readonly nextOffset: number },
  ): Promise<ConditionalResult> {
    const current = this.sessions.get(id);
    const live = current?.state === 'open' || current?.state === 'closing';
    if (current === undefined || !live || (expected && current.nextOffset !== expected.nextOffset)) {
      return this.failed(current);
    }
    this.store({ ...current, state, expiresAt, staged: [] });
    return { applied: true };
  }

  async claimNotification(
    id: string,
    claim: { readonly now: number; readonly until: number },
  ): Promise<ConditionalResult> {
    const current = this.sessions.get(id);
    if (
      current === undefined ||
      current.state !== 'closing' ||
      current.reply !== undefined ||
      current.expiresAt <= claim.until ||
      (current.notifyingUntil !== undefined && current.notifyingUntil > claim.now)
    ) {
      return this.failed(current);
    }
    this.store({ ...current, notifyingUntil: claim.until });
    return { applied: true };
  }

  async recordReply(id: string, claimedUntil: number, reply: StoredReply): Promise<ConditionalResult> {
    const current = this.sessions.get(id);
    if (
      current === undefined ||
      current.state !== 'closing' ||
      current.reply !== undefined ||
      current.notifyingUntil !== claimedUntil
    ) {
      return this.failed(current);
    }
    const { notifyingUntil: _claim, ...rest } = current;
    this.store({ ...rest, reply: structuredClone(reply) });
    return { applied: true };
  }

  async releaseNotification(id: string, until: number): Promise<void> {
    const current = this.sessions.get(id);
    if (current === undefined || current.notifyingUntil !== until) return;
    const { notifyingUntil: _claim, ...rest } = current;
    this.store(rest);
  }

  async putPart(id: string, part: PartRecord): Promise<void> {
    this.writes += 1;
    const parts = this.parts.get(id) ?? new Map<number, PartRecord>();
    parts.set(part.partNumber, { ...part });
    this.parts.set(id, parts);
  }

  async listParts(id: string): Promise<PartRecord[]> {
    const parts = [...(this.parts.get(id)?.values() ?? [])];
    return parts.sort((a, b) => a.partNumber - b.partNumber).map((part) => ({ ...part }));
  }

  async deleteParts(id: string): Promise<void> {
    this.parts.delete(id);
  }

  async countOpenSessions(owner: string, now: number): Promise<number> {
    let count = 0;
    for (const session of this.sessions.values()) {
      if (session.owner === owner && session.state === 'open' && session.expiresAt > now) count += 1;
    }
    return count;
  }

  /** Test helper: the acknowledged offset of a session. */
  nextOffsetOf(id: string): number | undefined {
    return this.sessions.get(id)?.nextOffset;
  }

  /** Test helper: how many part records a session still has. */
  partCount(id: string): number {
    return this.parts.get(id)?.size ?? 0;
  }

  /** Test helper: move a session's clock, as if time had passed. */
  expire(id: string, expiresAt: number): void {
    const current = this.sessions.get(id);
    if (current !== undefined) this.sessions.set(id, { ...current, expiresAt });
  }

  private store(session: Session): void {
    const bytes = Buffer.byteLength(JSON.stringify(session));
    if (bytes > MAX_ITEM_BYTES) throw new Error(`ValidationException: item size ${bytes} exceeds 400 KB`);
    this.largestSessionBytes = Math.max(this.largestSessionBytes, bytes);
    this.writes += 1;
    this.sessions.set(session.id, structuredClone(session));
  }

  private failed(current: Session | undefined): ConditionalResult {
    return current === undefined ? { applied: false } : { applied: false, current: structuredClone(current) };
  }
}
