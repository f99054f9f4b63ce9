import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbSessionStore } from '../../../lambda/adapters/dynamodb-session-store';
import type { Session, StoredReply } from '../../../lambda/ports/session-store';
import { offlineDocumentClient } from '../../helpers/offline-document-client';

const TABLE = 'sessions';
const ID = '{6F3B1A4C-2D5E-4F60-8A71-9B0C1D2E3F40}';
const PK = `SESSION#${ID}`;

const sealed: Session = {
  id: ID,
  key: 'uploads/a.bin',
  originalPath: '/a.bin',
  uploadId: 'u-1',
  owner: 'alice',
  state: 'closing',
  totalSize: 10,
  partSize: 5_242_880,
  nextOffset: 10,
  partsDone: 1,
  staged: [],
  createdAt: 1_700_000_000_000,
  expiresAt: 1_700_000_900_000,
};

const reply: StoredReply = {
  url: `BITS-Sessions/Replies/${ID}/responsefile.bin`,
  object: {
    key: `bits-replies/${ID}/31000/responsefile.bin`,
    size: 12,
    etag: '"abc"',
    storedAt: 1_700_000_000_200,
  },
};

const documents = mockClient(DynamoDBDocumentClient);
const store = new DynamoDbSessionStore(offlineDocumentClient(), TABLE);

beforeEach(() => {
  documents.reset();
});

const checkFailed = (item?: Record<string, unknown>) =>
  new ConditionalCheckFailedException({ message: 'failed', $metadata: {}, Item: item as never });

describe('DynamoDbSessionStore upload-reply fields', () => {
  it('claims the notification only on a sealed session without a reply or a live claim that outlives the claim', async () => {
    documents.on(UpdateCommand).resolves({});
    expect(await store.claimNotification(ID, { now: 1000, until: 31_000 })).toEqual({ applied: true });
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: PK, sk: 'META' },
      UpdateExpression: 'SET notifyingUntil = :until',
      ConditionExpression:
        '#state = :closing AND attribute_not_exists(reply) AND expiresAt > :until AND ' +
        '(attribute_not_exists(notifyingUntil) OR notifyingUntil <= :now)',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':until': 31_000, ':now': 1000, ':closing': 'closing' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('returns the stored reply (wire format) when the claim fails because an answer is there', async () => {
    documents.on(UpdateCommand).rejects(
      checkFailed({
        pk: { S: PK },
        sk: { S: 'META' },
        id: { S: ID },
        key: { S: 'uploads/a.bin' },
        originalPath: { S: '/a.bin' },
        uploadId: { S: 'u-1' },
        owner: { S: 'alice' },
        state: { S: 'closing' },
        totalSize: { N: '10' },
        partSize: { N: '5242880' },
        nextOffset: { N: '10' },
        partsDone: { N: '1' },
        staged: { L: [] },
        createdAt: { N: '1700000000000' },
        expiresAt: { N: '1700000900000' },
        reply: {
          M: {
            url: { S: reply.url },
            object: {
              M: {
                key: { S: `bits-replies/${ID}/31000/responsefile.bin` },
                size: { N: '12' },
                etag: { S: '"abc"' },
                storedAt: { N: '1700000000200' },
              },
            },
          },
        },
      }),
    );
    expect(await store.claimNotification(ID, { now: 1000, until: 31_000 })).toEqual({
      applied: false,
      current: { ...sealed, reply },
    });
  });

  it('records the reply once, dropping the claim, only on a sealed session without one, under the claim the caller took', async () => {
    documents.on(UpdateCommand).resolves({});
    expect(await store.recordReply(ID, 31_000, reply)).toEqual({ applied: true });
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'SET reply = :reply REMOVE notifyingUntil',
      ConditionExpression: '#state = :closing AND attribute_not_exists(reply) AND notifyingUntil = :until',
      ExpressionAttributeValues: {
        ':reply': {
          url: reply.url,
          object: {
            key: `bits-replies/${ID}/31000/responsefile.bin`,
            size: 12,
            etag: '"abc"',
            storedAt: 1_700_000_000_200,
          },
        },
        ':closing': 'closing',
        ':until': 31_000,
      },
    });
  });

  it('stores a static reply URL without an object', async () => {
    documents.on(UpdateCommand).resolves({});
    await store.recordReply(ID, 31_000, { url: 'https://x.example/r' });
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeValues).toMatchObject({
      ':reply': { url: 'https://x.example/r' },
    });
  });

  it('releases only its own claim, and a claim already gone is no error', async () => {
    documents.on(UpdateCommand).rejects(checkFailed());
    await expect(store.releaseNotification(ID, 31_000)).resolves.toBeUndefined();
    expect(documents.commandCalls(UpdateCommand)[0]?.args[0].input).toMatchObject({
      UpdateExpression: 'REMOVE notifyingUntil',
      ConditionExpression: 'notifyingUntil = :until',
      ExpressionAttributeValues: { ':until': 31_000 },
    });
  });

  it('reads the reply and the claim back, and refuses a malformed reply', async () => {
    documents.on(GetCommand).resolves({
      Item: { pk: PK, sk: 'META', ...sealed, reply, notifyingUntil: 5, ttl: 1 },
    });
    expect(await store.getSession(ID)).toEqual({ ...sealed, reply, notifyingUntil: 5 });
    documents.on(GetCommand).resolves({ Item: { pk: PK, sk: 'META', ...sealed, reply: { url: 7 }, ttl: 1 } });
    await expect(store.getSession(ID)).rejects.toThrow(/url/);
  });
});
