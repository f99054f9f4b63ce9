import type { Session } from '../ports/session-store';

/** Sessions one execution environment remembers; a Lambda environment serves one request at a time. */
export const DEFAULT_SESSION_CACHE_SIZE = 128;

/**
 * The session records this execution environment read or wrote last, by id, the least recently used
 * dropped first. A record here may be stale (another environment may have moved the session on, or
 * closed or cancelled it): Fragment uses one only as the plan for an optimistic commit, whose
 * DynamoDB condition rejects a stale record, and decides every other answer from a consistent read
 * (lambda/handlers/fragment.ts). Records are immutable values; nothing here is shared beyond the
 * environment that owns the cache.
 */
export class SessionCache {
  private readonly records = new Map<string, Session>();

  constructor(private readonly capacity = DEFAULT_SESSION_CACHE_SIZE) {}

  get(id: string): Session | undefined {
    const session = this.records.get(id);
    if (session !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.records.delete(id);
      this.records.set(id, session);
    }
    return session;
  }

  set(session: Session): void {
    this.records.delete(session.id);
    this.records.set(session.id, session);
    if (this.records.size > this.capacity) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
  }

  delete(id: string): void {
    this.records.delete(id);
  }

  get size(): number {
    return this.records.size;
  }
}
