import { setTimeout as sleep } from 'node:timers/promises';
import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type QueryCommandOutput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { SessionExistsError, StoreUnavailableError } from '../ports/errors';
import type {
  ConditionalResult,
  PartRecord,
  Session,
  SessionProgress,
  SessionState,
  SessionStore,
  StagedChunk,
  StoredReply,
} from '../ports/session-store';
import { errorCode, translateUnknown } from './aws-errors';

/** Item attributes as the DocumentClient hands them over. */
type Item = Record<string, unknown>;

const META = 'META';
const PART_PREFIX = 'PART#';
/** BatchWriteItem takes at most 25 requests. */
const BATCH_WRITE_LIMIT = 25;
/** Rounds of re-sending UnprocessedItems before giving up; the SDK does not retry those itself. */
const UNPROCESSED_ATTEMPTS = 6;
const UNPROCESSED_BASE_DELAY_MS = 25;
const SESSION_STATES: readonly SessionState[] = ['open', 'closing', 'closed', 'cancelled'];

/**
 * Sparse index of the META items by owner, sorted by expiry, projecting `state` (local/provision.ts
 * and infra/constructs/upload-storage.ts create it). Part items have no owner, so they stay out.
 */
export const OWNER_INDEX = {
  name: 'owner-index',
  partitionKey: 'owner',
  sortKey: 'expiresAt',
  projected: ['state'],
} as const;

export const sessionKey = (id: string) => ({ pk: `SESSION#${id}`, sk: META });
/** Zero-padded so that the sort key orders parts numerically (part numbers stop at 10,000). */
export const partKey = (id: string, partNumber: number) => ({
  pk: `SESSION#${id}`,
  sk: `${PART_PREFIX}${String(partNumber).padStart(5, '0')}`,
});
/** DynamoDB TTL wants epoch seconds; rounding up keeps TTL from deleting a record before it expires. */
export const ttlSeconds = (expiresAtMs: number): number => Math.ceil(expiresAtMs / 1000);

/**
 * TTL is only the last resort: every read checks expiresAt, and the sweeper (lambda/cleanup) discards
 * expired sessions and their part items. A record's TTL therefore lies a week past its expiry, so
 * DynamoDB never removes a session record before the sweeper has cleaned up after it.
 */
export const TTL_MARGIN_SECONDS = 7 * 24 * 3600;
export const recordTtl = (expiresAtMs: number): number => ttlSeconds(expiresAtMs) + TTL_MARGIN_SECONDS;

export interface DynamoDbSessionStoreOptions {
  /**
   * Query page size (DynamoDB's `Limit`). Unset means DynamoDB's own 1 MB pages; tests set it
   * small so that pagination is exercised with a few hundred parts.
   */
  readonly pageSize?: number;
  /**
   * TTL of a part item, in seconds from its write: longer than any session can live (maximum age
   * plus tombstone plus TTL_MARGIN_SECONDS), so it only removes parts nothing else cleaned up.
   */
  readonly partTtlSeconds?: number;
}

/** Part TTL when none is configured: the default 30-day maximum session age, a day of tombstone, the margin. */
const DEFAULT_PART_TTL_SECONDS = 31 * 24 * 3600 + TTL_MARGIN_SECONDS;

/**
 * SessionStore on one DynamoDB table (design.md "Session record"): the session is the item
 * `SESSION#<id>` / `META`, each uploaded part its own small item `PART#nnnnn` under the same
 * partition key. Concurrency is settled by condition expressions, never by locks.
 */
export class DynamoDbSessionStore implements SessionStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: DynamoDbSessionStoreOptions = {},
  ) {}

  async createSession(session: Session): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...sessionKey(session.id), ...sessionAttributes(session) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (errorCode(error) === 'ConditionalCheckFailedException') {
        throw new SessionExistsError(`session ${session.id} exists`, { cause: error });
      }
      translateUnknown(error, 'createSession');
    }
  }

  async getSession(id: string): Promise<Session | undefined> {
    try {
      const { Item } = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: sessionKey(id), ConsistentRead: true }),
      );
      return Item === undefined ? undefined : toSession(Item);
    } catch (error) {
      return translateUnknown(error, 'getSession');
    }
  }

  async advanceSession(
    id: string,
    expected: { readonly nextOffset: number; readonly now: number },
    progress: SessionProgress,
  ): Promise<ConditionalResult> {
    const { expiresAt } = progress;
    return this.conditionalUpdate('advanceSession', {
      TableName: this.tableName,
      Key: sessionKey(id),
      UpdateExpression:
        'SET totalSize = :totalSize, partSize = :partSize, nextOffset = :nextOffset, ' +
        `partsDone = :partsDone, staged = :staged${expiresAt === undefined ? '' : ', expiresAt = :expiresAt, #ttl = :ttl'}`,
      ConditionExpression: '#state = :open AND nextOffset = :expectedOffset AND expiresAt > :now',
      ExpressionAttributeNames: { '#state': 'state', ...(expiresAt === undefined ? {} : { '#ttl': 'ttl' }) },
      ExpressionAttributeValues: {
        ':totalSize': progress.totalSize,
        ':partSize': progress.partSize,
        ':nextOffset': progress.nextOffset,
        ':partsDone': progress.partsDone,
        ':staged': progress.staged.map(stagedAttributes),
        // Left out, expiresAt and ttl keep their values and the owner index entry is not rewritten.
        ...(expiresAt === undefined ? {} : { ':expiresAt': expiresAt, ':ttl': recordTtl(expiresAt) }),
        ':open': 'open',
        ':expectedOffset': expected.nextOffset,
        ':now': expected.now,
      },
    });
  }

  async finishSession(
    id: string,
    state: 'closing' | 'closed' | 'cancelled',
    expiresAt: number,
    expected?: { readonly nextOffset: number },
  ): Promise<ConditionalResult> {
    return this.conditionalUpdate('finishSession', {
      TableName: this.tableName,
      Key: sessionKey(id),
      // A finished session references no staged chunk any more: its cleanup may delete them all.
      UpdateExpression: 'SET #state = :state, expiresAt = :expiresAt, #ttl = :ttl, staged = :none',
      ConditionExpression: `#state IN (:open, :closing)${expected ? ' AND nextOffset = :expected' : ''}`,
      ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':state': state,
        ':expiresAt': expiresAt,
        ':ttl': recordTtl(expiresAt),
        ':none': [],
        ':open': 'open',
        ':closing': 'closing',
        ...(expected ? { ':expected': expected.nextOffset } : {}),
      },
    });
  }

  async claimNotification(
    id: string,
    claim: { readonly now: number; readonly until: number },
  ): Promise<ConditionalResult> {
    return this.conditionalUpdate('claimNotification', {
      TableName: this.tableName,
      Key: sessionKey(id),
      UpdateExpression: 'SET notifyingUntil = :until',
      // `expiresAt > :until`: the session must outlive the call, or the ack's Reply-URL would 404.
      ConditionExpression:
        '#state = :closing AND attribute_not_exists(reply) AND expiresAt > :until AND ' +
        '(attribute_not_exists(notifyingUntil) OR notifyingUntil <= :now)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':until': claim.until, ':now': claim.now, ':closing': 'closing' },
    });
  }

  async recordReply(id: string, claimedUntil: number, reply: StoredReply): Promise<ConditionalResult> {
    return this.conditionalUpdate('recordReply', {
      TableName: this.tableName,
      Key: sessionKey(id),
      UpdateExpression: 'SET reply = :reply REMOVE notifyingUntil',
      // Only under the caller's own claim: one that outlived it never records over its successor.
      ConditionExpression: '#state = :closing AND attribute_not_exists(reply) AND notifyingUntil = :until',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: {
        ':reply': replyAttributes(reply),
        ':closing': 'closing',
        ':until': claimedUntil,
      },
    });
  }

  async releaseNotification(id: string, until: number): Promise<void> {
    // Only our own claim: a later claim by another request stays.
    await this.conditionalUpdate('releaseNotification', {
      TableName: this.tableName,
      Key: sessionKey(id),
      UpdateExpression: 'REMOVE notifyingUntil',
      ConditionExpression: 'notifyingUntil = :until',
      ExpressionAttributeValues: { ':until': until },
    });
  }

  async putPart(id: string, part: PartRecord): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...partKey(id, part.partNumber),
            partNumber: part.partNumber,
            etag: part.etag,
            size: part.size,
            ...(part.checksum === undefined ? {} : { checksum: part.checksum }),
            ttl: ttlSeconds(Date.now()) + (this.options.partTtlSeconds ?? DEFAULT_PART_TTL_SECONDS),
          },
        }),
      );
    } catch (error) {
      translateUnknown(error, 'putPart');
    }
  }

  async listParts(id: string): Promise<PartRecord[]> {
    const parts: PartRecord[] = [];
    for await (const items of this.queryParts(id, false)) parts.push(...items.map(toPart));
    return parts;
  }

  async deleteParts(id: string): Promise<void> {
    // Deleting page by page is safe: the next page starts after the last key seen, not at an offset.
    for await (const items of this.queryParts(id, true)) {
      for (let index = 0; index < items.length; index += BATCH_WRITE_LIMIT) {
        const keys = items.slice(index, index + BATCH_WRITE_LIMIT);
        await this.batchDelete(keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } })));
      }
    }
  }

  /**
   * Query on the owner index: `owner = :owner AND expiresAt > :now`, keeping open sessions only,
   * counting (Select COUNT) over every page. GSIs are eventually consistent (no ConsistentRead).
   */
  async countOpenSessions(owner: string, now: number): Promise<number> {
    let count = 0;
    const pages = this.queryPages('countOpenSessions', {
      TableName: this.tableName,
      IndexName: OWNER_INDEX.name,
      KeyConditionExpression: '#owner = :owner AND expiresAt > :now',
      FilterExpression: '#state = :open',
      ExpressionAttributeNames: { '#owner': 'owner', '#state': 'state' },
      ExpressionAttributeValues: { ':owner': owner, ':now': now, ':open': 'open' },
      Select: 'COUNT',
    });
    for await (const page of pages) count += page.Count ?? 0;
    return count;
  }

  /** One conditional UpdateItem; on failure the old item comes back with the error, so no re-read. */
  private async conditionalUpdate(
    operation: string,
    input: ConstructorParameters<typeof UpdateCommand>[0],
  ): Promise<ConditionalResult> {
    try {
      await this.documents.send(
        new UpdateCommand({ ...input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
      );
      return { applied: true };
    } catch (error) {
      if (errorCode(error) !== 'ConditionalCheckFailedException') return translateUnknown(error, operation);
      const old = (error as { Item?: Record<string, unknown> }).Item;
      // No old item: the session never existed or TTL has removed it.
      return old === undefined ? { applied: false } : { applied: false, current: toSession(unmarshall(old)) };
    }
  }

  /** Pages of the session's PART# items in sort-key (= part number) order, strongly consistent. */
  private async *queryParts(id: string, keysOnly: boolean): AsyncGenerator<Item[]> {
    const pages = this.queryPages(keysOnly ? 'deleteParts' : 'listParts', {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': sessionKey(id).pk, ':prefix': PART_PREFIX },
      ConsistentRead: true,
      ProjectionExpression: keysOnly ? 'pk, sk' : undefined,
    });
    for await (const page of pages) yield page.Items ?? [];
  }

  /** Every page of a Query (following LastEvaluatedKey, `pageSize` per page), errors translated. */
  private async *queryPages(operation: string, input: QueryCommandInput): AsyncGenerator<QueryCommandOutput> {
    let startKey: Item | undefined;
    do {
      let page: QueryCommandOutput;
      try {
        page = await this.documents.send(
          new QueryCommand({ ...input, ExclusiveStartKey: startKey, Limit: this.options.pageSize }),
        );
      } catch (error) {
        return translateUnknown(error, operation);
      }
      startKey = page.LastEvaluatedKey;
      yield page;
    } while (startKey !== undefined);
  }

  /**
   * BatchWriteItem may accept only some requests (UnprocessedItems) without raising an error; the
   * SDK does not resend those, so they are resent here with backoff, as the DynamoDB docs ask.
   */
  private async batchDelete(requests: BatchWriteRequests): Promise<void> {
    let pending: BatchWriteRequests | undefined = requests;
    for (let attempt = 0; pending !== undefined && pending.length > 0; attempt += 1) {
      if (attempt === UNPROCESSED_ATTEMPTS) {
        throw new StoreUnavailableError(`deleteParts: ${pending.length} deletes left unprocessed`);
      }
      if (attempt > 0) await sleep(UNPROCESSED_BASE_DELAY_MS * 2 ** (attempt - 1));
      try {
        const result: BatchWriteCommandOutput = await this.documents.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = result.UnprocessedItems?.[this.tableName];
      } catch (error) {
        translateUnknown(error, 'deleteParts');
      }
    }
  }
}

type BatchWriteRequests = NonNullable<
  ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']
>[string];

/** Optional fields are left out rather than written as undefined, which the marshaller refuses. */
function sessionAttributes(session: Session): Item {
  return {
    id: session.id,
    key: session.key,
    originalPath: session.originalPath,
    uploadId: session.uploadId,
    owner: session.owner,
    state: session.state,
    ...(session.totalSize === undefined ? {} : { totalSize: session.totalSize }),
    ...(session.partSize === undefined ? {} : { partSize: session.partSize }),
    nextOffset: session.nextOffset,
    partsDone: session.partsDone,
    staged: session.staged.map(stagedAttributes),
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    ttl: recordTtl(session.expiresAt),
  };
}

const replyAttributes = (reply: StoredReply): Item => ({
  url: reply.url,
  ...(reply.object === undefined
    ? {}
    : {
        object: {
          key: reply.object.key,
          size: reply.object.size,
          etag: reply.object.etag,
          storedAt: reply.object.storedAt,
        },
      }),
});

/** The optional upload-reply fields of a stored record. */
function readReplyFields(item: Item): Pick<Session, 'reply' | 'notifyingUntil'> {
  const what = `session record ${String(item.pk)}`;
  const until = fieldReader(item, what).optionalNumber('notifyingUntil');
  const raw = item.reply;
  if (raw === undefined) return until === undefined ? {} : { notifyingUntil: until };
  const read = fieldReader(raw, `reply of ${what}`);
  const object = (raw as Item).object;
  const stored = object === undefined ? undefined : fieldReader(object, `reply object of ${what}`);
  const reply: StoredReply = {
    url: read.string('url'),
    ...(stored === undefined
      ? {}
      : {
          object: {
            key: stored.string('key'),
            size: stored.number('size'),
            etag: stored.string('etag'),
            storedAt: stored.number('storedAt'),
          },
        }),
  };
  return { reply, ...(until === undefined ? {} : { notifyingUntil: until }) };
}

/**
 * A staged chunk as one string, `<start> <end> <level> <base64 sha256>` (about 62 bytes, where a
 * map with named fields and the object key took about 165): every fragment rewrites the list, and
 * DynamoDB bills an update by the larger item size in whole KB, so with up to 7 chunks (1 MiB
 * fragments, 8 MiB parts) the session item stays under 1 KB.
 */
export const stagedAttributes = (chunk: StagedChunk): string =>
  `${chunk.start} ${chunk.end} ${chunk.level} ${chunk.checksum}`;

const STAGED_CHUNK = /^(\d+) (\d+) (\d+) ([A-Za-z0-9+/]+={0,2})$/;

/** Reads a staged chunk back; also the map form `{start, end, key, checksum, level}` written before. */
function toStagedChunk(value: unknown, what: string): StagedChunk {
  if (typeof value === 'string') {
    const match = STAGED_CHUNK.exec(value);
    if (match === null) throw new Error(`${what} is not a staged chunk: ${value.slice(0, 100)}`);
    const [, start, end, level, checksum] = match as unknown as [string, string, string, string, string];
    return { start: Number(start), end: Number(end), level: Number(level), checksum };
  }
  const field = fieldReader(value, what);
  return {
    start: field.number('start'),
    end: field.number('end'),
    checksum: field.string('checksum'),
    level: field.number('level'),
  };
}

/** Reads a stored record back, refusing one that does not have the shape this code writes. */
function toSession(item: Item): Session {
  const read = fieldReader(item, `session record ${String(item.pk)}`);
  const state = read.string('state');
  if (!SESSION_STATES.includes(state as SessionState)) throw read.corrupt('state');
  const staged = item.staged;
  if (!Array.isArray(staged)) throw read.corrupt('staged');
  const totalSize = read.optionalNumber('totalSize');
  const partSize = read.optionalNumber('partSize');
  return {
    id: read.string('id'),
    key: read.string('key'),
    originalPath: read.string('originalPath'),
    uploadId: read.string('uploadId'),
    owner: read.string('owner'),
    state: state as SessionState,
    ...(totalSize === undefined ? {} : { totalSize }),
    ...(partSize === undefined ? {} : { partSize }),
    nextOffset: read.number('nextOffset'),
    partsDone: read.number('partsDone'),
    staged: staged.map((chunk: unknown) => toStagedChunk(chunk, `staged chunk of ${String(item.pk)}`)),
    createdAt: read.number('createdAt'),
    expiresAt: read.number('expiresAt'),
    ...readReplyFields(item),
  };
}

function toPart(item: Item): PartRecord {
  const read = fieldReader(item, `part record ${String(item.pk)} ${String(item.sk)}`);
  const checksum = item.checksum;
  if (checksum !== undefined && typeof checksum !== 'string') throw read.corrupt('checksum');
  return {
    partNumber: read.number('partNumber'),
    etag: read.string('etag'),
    size: read.number('size'),
    ...(checksum === undefined ? {} : { checksum }),
  };
}

function fieldReader(value: unknown, what: string) {
  const item = (typeof value === 'object' && value !== null ? value : {}) as Item;
  const corrupt = (field: string) => new Error(`${what} has no valid ${field}`);
  return {
    corrupt,
    string(field: string): string {
      const found = item[field];
      if (typeof found !== 'string') throw corrupt(field);
      return found;
    },
    number(field: string): number {
      const found = item[field];
      if (typeof found !== 'number') throw corrupt(field);
      return found;
    },
    optionalNumber(field: string): number | undefined {
      const found = item[field];
      if (found !== undefined && typeof found !== 'number') throw corrupt(field);
      return found;
    },
  };
}

/**
 * The item a ConditionalCheckFailedException carries is in wire format: lib-dynamodb converts
 * command outputs but not errors. This covers the attribute types this adapter writes.
 */
function unmarshall(item: Record<string, unknown>): Item {
  return Object.fromEntries(Object.entries(item).map(([name, value]) => [name, fromAttributeValue(value)]));
}

function fromAttributeValue(value: unknown): unknown {
  const attribute = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof attribute.S === 'string') return attribute.S;
  if (typeof attribute.N === 'string') return Number(attribute.N);
  if (typeof attribute.BOOL === 'boolean') return attribute.BOOL;
  if (attribute.NULL === true) return null;
  if (Array.isArray(attribute.L)) return attribute.L.map(fromAttributeValue);
  if (typeof attribute.M === 'object' && attribute.M !== null) {
    return unmarshall(attribute.M as Record<string, unknown>);
  }
  throw new Error(`unexpected DynamoDB attribute ${JSON.stringify(Object.keys(attribute))}`);
}
