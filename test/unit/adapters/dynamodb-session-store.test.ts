import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbSessionStore, TTL_MARGIN_SECONDS } from '../../../lambda/adapters/dynamodb-session-store';
import { SessionExistsError, StoreUnavailableError } from '../../../lambda/ports/errors';
import type { Session, SessionProgress } from '../../../lambda/ports/session-store';
import { offlineDocumentClient } from '../../helpers/offline-document-client';

const TABLE = 'sessions';
const ID = '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}';
const PK = `SESSION#${ID}`;
const $metadata = {};

const session: Session = {
  id: ID,
  key: 'uploads/a.bin',
  originalPath: '/a.bin',
  uploadId: 'u-1',
  owner: 'alice',
  state: 'open',
  nextOffset: 0,
  partsDone: 0,
  staged: [],
  createdAt: 1_700_000_000_000,
  expiresAt: 1_700_000_000_500,
};

const progress: SessionProgress = {
  totalSize: 100,
  partSize: 5_242_880,
  nextOffset: 10,
  partsDone: 0,
  staged: [{ start: 0, end: 10, checksum: 'c2hh', level: 0 }],
  expiresAt: 1_700_000_100_001,
};

/** The META item as DynamoDB puts it on a ConditionalCheckFailedException: wire format. */
const wireItem = {
  pk: { S: PK },
  sk: { S: 'META' },
  id: { S: ID },
  key: { S: 'uploads/a.bin' },
  originalPath: { S: '/a.bin' },
  uploadId: { S: 'u-1' },
  owner: { S: 'alice' },
  state: { S: 'open' },
  totalSize: { N: '100' },
  partSize: { N: '5242880' },
  nextOffset: { N: '40' },
  partsDone: { N: '0' },
  staged: {
    L: [
      {
        M: { start: { N: '0' }, end: { N: '40' }, key: { S: 'k' }, checksum: { S: 'c' }, level: { N: '1' } },
      },
    ],
  },
  createdAt: { N: '1700000000000' },
  expiresAt: { N: '1700000000500' },
  ttl: { N: '1700000001' },
};

const documents = mockClient(DynamoDBDocumentClient);
const store = new DynamoDbSessionStore(offlineDocumentClient(), TABLE);

beforeEach(() => {
  documents.reset();
});

const checkFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata,
    Item: item as never,
  });

describe('DynamoDbSessionStore commands', () => {
  it('creates the META item only if the partition is free, with TTL in epoch seconds rounded up', async () => {
    documents.on(PutCommand).resolves({});
    await store.createSession(session);
    const [call] = documents.commandCalls(PutCommand);
    expect(call?.args[0].input).toEqual({
      TableName: TABLE,
      ConditionExpression: 'attribute_not_exists(pk)',
      Item: { pk: PK, sk: 'META', ...session, ttl: 1_700_000_001 + TTL_MARGIN_SECONDS },
    });
    expect(call?.args[0].input.Item).not.toHaveProperty('totalSize');
  });

  it('answers SessionExistsError when the id is taken', async () => {
    documents.on(PutCommand).rejects(checkFailed());
    await expect(store.createSession(session)).rejects.toBeInstanceOf(SessionExistsError);
  });

  it('reads a session with a strongly consistent GetItem', async () => {
    documents.on(GetCommand).resolves({ Item: { pk: PK, sk: 'META', ...session, ttl: 1 } });
    expect(await store.getSession(ID)).toEqual(session);
    expect(documents.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: PK, sk: 'META' },
      ConsistentRead: true,
    });
  });

  it('refuses a stored record that lacks a field instead of guessing', async () => {
    documents.on(GetCommand).resolves({ Item: { pk: PK, sk: 'META', ...session, nextOffset: '0' } });
    await expect(store.getSession(ID)).rejects.toThrow(/nextOffset/);
  });

  it('advances with one UpdateItem guarded by state, offset and expiry', async () => {
    documents.on(UpdateCommand).resolves({});
    const result = await store.advanceSession(ID, { nextOffset: 0, now: 1_700_000_000_100 }, progress);
    expect(result).toEqual({ applied: true });
    expect(documents.calls()).toHaveLength(1);
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: PK, sk: 'META' },
      UpdateExpression:
        'SET totalSize = :totalSize, partSize = :partSize, nextOffset = :nextOffset, ' +
        'partsDone = :partsDone, staged = :staged, expiresAt = :expiresAt, #ttl = :ttl',
      ConditionExpression: '#state = :open AND nextOffset = :expectedOffset AND expiresAt > :now',
      ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':totalSize': 100,
        ':partSize': 5_242_880,
        ':nextOffset': 10,
        ':partsDone': 0,
        // One string per chunk: the item stays under 1 KB with the chunks of 1 MiB fragments.
        ':staged': ['0 10 0 c2hh'],
        ':expiresAt': 1_700_000_100_001,
        ':ttl': 1_700_000_101 + TTL_MARGIN_SECONDS,
        ':open': 'open',
        ':expectedOffset': 0,
        ':now': 1_700_000_000_100,
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('answers a lost race from the old item the failed update returned, without a second read', async () => {
    documents.on(UpdateCommand).rejects(checkFailed(wireItem));
    const result = await store.advanceSession(ID, { nextOffset: 0, now: 1 }, progress);
    expect(result).toEqual({
      applied: false,
      current: {
        ...session,
        totalSize: 100,
        partSize: 5_242_880,
        nextOffset: 40,
        // The map form that records held before chunks became strings is still read.
        staged: [{ start: 0, end: 40, checksum: 'c', level: 1 }],
      },
    });
    expect(documents.calls()).toHaveLength(1);
  });

  it('leaves expiresAt and ttl alone when the progress names no new expiry', async () => {
    documents.on(UpdateCommand).resolves({});
    const { expiresAt: _, ...kept } = progress;
    expect(await store.advanceSession(ID, { nextOffset: 0, now: 1 }, kept)).toEqual({ applied: true });
    const input = documents.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toBe(
      'SET totalSize = :totalSize, partSize = :partSize, nextOffset = :nextOffset, ' +
        'partsDone = :partsDone, staged = :staged',
    );
    expect(input?.ConditionExpression).toBe(
      '#state = :open AND nextOffset = :expectedOffset AND expiresAt > :now',
    );
    expect(input?.ExpressionAttributeNames).toEqual({ '#state': 'state' });
    expect(Object.keys(input?.ExpressionAttributeValues ?? {})).not.toContain(':expiresAt');
  });

  it('reads staged chunks stored as strings and refuses one that is not', async () => {
    const item = (staged: unknown) => ({ ...session, pk: PK, sk: 'META', staged });
    documents
      .on(GetCommand)
      .resolvesOnce({ Item: item(['8388608 9437184 2 n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=']) })
      .resolvesOnce({ Item: item(['8388608 x 2 abc']) });
    expect((await store.getSession(ID))?.staged).toEqual([
      {
        start: 8_388_608,
        end: 9_437_184,
        level: 2,
        checksum: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
      },
    ]);
    await expect(store.getSession(ID)).rejects.toThrow(/not a staged chunk/);
  });

  it('answers applied: false without a record when the session does not exist', async () => {
    documents.on(UpdateCommand).rejects(checkFailed());
    expect(await store.advanceSession(ID, { nextOffset: 0, now: 1 }, progress)).toEqual({ applied: false });
  });

  it('finishes only an open or closing session, clearing its staged chunks', async () => {
    documents.on(UpdateCommand).resolves({});
    await store.finishSession(ID, 'cancelled', 1_700_000_999_000);
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: PK, sk: 'META' },
      UpdateExpression: 'SET #state = :state, expiresAt = :expiresAt, #ttl = :ttl, staged = :none',
      ConditionExpression: '#state IN (:open, :closing)',
      ExpressionAttributeNames: { '#state': 'state', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ':state': 'cancelled',
        ':expiresAt': 1_700_000_999_000,
        ':ttl': 1_700_000_999 + TTL_MARGIN_SECONDS,
        ':none': [],
        ':open': 'open',
        ':closing': 'closing',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('seals a session for Close only while it is still at the offset Close read', async () => {
    documents.on(UpdateCommand).resolves({});
    await store.finishSession(ID, 'closing', 1_700_000_999_000, { nextOffset: 42 });
    const input = documents.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.ConditionExpression).toBe('#state IN (:open, :closing) AND nextOffset = :expected');
    expect(input?.ExpressionAttributeValues?.[':expected']).toBe(42);
    expect(input?.ExpressionAttributeValues?.[':state']).toBe('closing');
  });

  it('writes a part under a zero-padded sort key so that parts sort numerically', async () => {
    documents.on(PutCommand).resolves({});
    await store.putPart(ID, { partNumber: 7, etag: '"e7"', size: 5 });
    expect(documents.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Item: { pk: PK, sk: 'PART#00007', partNumber: 7, etag: '"e7"', size: 5, ttl: expect.any(Number) },
    });
  });

  it('gives part items a TTL beyond any session life, and session records a week past their expiry', async () => {
    documents.on(PutCommand).resolves({});
    const withTtl = new DynamoDbSessionStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), TABLE, {
      partTtlSeconds: 1000,
    });
    const before = Math.ceil(Date.now() / 1000);
    await withTtl.putPart(ID, { partNumber: 1, etag: '"e1"', size: 5 });
    const ttl = Number(documents.commandCalls(PutCommand)[0]?.args[0].input.Item?.ttl);
    expect(ttl).toBeGreaterThanOrEqual(before + 1000);
    expect(ttl).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 1000);
    expect(TTL_MARGIN_SECONDS).toBe(7 * 24 * 3600);
  });

  it('lists parts by following LastEvaluatedKey with consistent reads', async () => {
    const item = (n: number) => ({ pk: PK, sk: `PART#0000${n}`, partNumber: n, etag: `"${n}"`, size: 1 });
    documents
      .on(QueryCommand)
      .resolvesOnce({ Items: [item(1), item(2)], LastEvaluatedKey: { pk: PK, sk: 'PART#00002' } })
      .resolvesOnce({ Items: [item(3)] });
    const paged = new DynamoDbSessionStore(DynamoDBDocumentClient.from(new DynamoDBClient({})), TABLE, {
      pageSize: 2,
    });
    expect((await paged.listParts(ID)).map((part) => part.partNumber)).toEqual([1, 2, 3]);
    const inputs = documents.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(inputs).toHaveLength(2);
    expect(inputs[0]).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': PK, ':prefix': 'PART#' },
      ConsistentRead: true,
      Limit: 2,
    });
    expect(inputs[0]?.ExclusiveStartKey).toBeUndefined();
    expect(inputs[1]?.ExclusiveStartKey).toEqual({ pk: PK, sk: 'PART#00002' });
  });

  it('deletes parts in batches of 25 and resends what DynamoDB left unprocessed', async () => {
    const keys = Array.from({ length: 30 }, (_, index) => ({
      pk: PK,
      sk: `PART#${String(index + 1).padStart(5, '0')}`,
    }));
    documents.on(QueryCommand).resolves({ Items: keys });
    const leftOver = { DeleteRequest: { Key: keys[3] } };
    documents
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [leftOver] } })
      .resolves({ UnprocessedItems: {} });

    await store.deleteParts(ID);

    expect(documents.commandCalls(QueryCommand)[0]?.args[0].input).toMatchObject({
      ProjectionExpression: 'pk, sk',
    });
    const batches = documents
      .commandCalls(BatchWriteCommand)
      .map((call) => call.args[0].input.RequestItems?.[TABLE]);
    expect(batches.map((batch) => batch?.length)).toEqual([25, 1, 5]);
    expect(batches[0]?.[0]).toEqual({ DeleteRequest: { Key: keys[0] } });
    expect(batches[1]).toEqual([leftOver]);
  });

  it('gives up with StoreUnavailableError when deletes stay unprocessed', async () => {
    documents.on(QueryCommand).resolves({ Items: [{ pk: PK, sk: 'PART#00001' }] });
    documents.on(BatchWriteCommand).resolves({
      UnprocessedItems: { [TABLE]: [{ DeleteRequest: { Key: { pk: PK, sk: 'PART#00001' } } }] },
    });
    await expect(store.deleteParts(ID)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(documents.commandCalls(BatchWriteCommand).length).toBeGreaterThan(1);
  });
});

describe('DynamoDbSessionStore error translation', () => {
  const throttles = [
    new ProvisionedThroughputExceededException({ message: 'slow down', $metadata }),
    new ThrottlingException({ message: 'slow down', $metadata }),
    new RequestLimitExceeded({ message: 'account limit', $metadata }),
    new InternalServerError({ message: 'oops', $metadata: { httpStatusCode: 500 } }),
    Object.assign(new Error('Service Unavailable'), {
      name: 'ServiceUnavailable',
      $fault: 'server',
      $metadata: { httpStatusCode: 503 },
    }),
  ];

  it.each(throttles.map((error) => [error.name, error]))(
    '%s (after the SDK retries) becomes StoreUnavailableError carrying the cause',
    async (_name, error) => {
      documents.on(GetCommand).rejects(error);
      const thrown = await store.getSession(ID).catch((caught: unknown) => caught);
      expect(thrown).toBeInstanceOf(StoreUnavailableError);
      expect((thrown as Error).cause).toBe(error);
    },
  );

  it('reports a throttled conditional update as unavailable, not as a lost race', async () => {
    documents.on(UpdateCommand).rejects(throttles[0]);
    await expect(store.advanceSession(ID, { nextOffset: 0, now: 1 }, progress)).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });

  it.each([
    ['createSession', () => store.createSession(session)],
    ['putPart', () => store.putPart(ID, { partNumber: 1, etag: '"e"', size: 1 })],
    ['finishSession', () => store.finishSession(ID, 'closed', 1)],
    ['listParts', () => store.listParts(ID)],
    ['deleteParts', () => store.deleteParts(ID)],
  ] as const)('translates throttling in %s too', async (_name, call) => {
    documents.onAnyCommand().rejects(throttles[1]);
    await expect(call()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('rethrows what it does not recognise, unchanged', async () => {
    const validation = Object.assign(new Error('Item size has exceeded the maximum allowed size'), {
      name: 'ValidationException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    documents.on(UpdateCommand).rejects(validation);
    await expect(store.advanceSession(ID, { nextOffset: 0, now: 1 }, progress)).rejects.toBe(validation);
  });
});
