import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbSessionStore } from '../../../lambda/adapters/dynamodb-session-store';
import { StoreUnavailableError } from '../../../lambda/ports/errors';
import { type Answer, BITS_PROTOCOL, send } from '../../helpers/events';
import { offlineDocumentClient } from '../../helpers/offline-document-client';
import { type AuthBed, makeAuthBed } from './auth-bed';

const LIMIT = 3;
let auth: AuthBed;
let paths = 0;

beforeEach(() => {
  auth = makeAuthBed({ authMode: 'upstream', maxSessionsPerPrincipal: String(LIMIT) });
});

/** Create-Session as `principal` (an authorizer's principalId), each time for a new path. */
async function create(principal: string): Promise<Answer> {
  paths += 1;
  return send(auth.handler, {
    principal,
    path: `/up/${paths}.bin`,
    headers: { 'BITS-Packet-Type': 'Create-Session', 'BITS-Supported-Protocols': BITS_PROTOCOL },
  });
}

async function openSessions(principal: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const answer = await create(principal);
    expect(answer.status).toBe(200);
    ids.push(answer.headers['bits-session-id'] ?? '');
  }
  return ids;
}

const packet = (principal: string, packetType: string, id: string) =>
  send(auth.handler, {
    principal,
    path: '/up/x.bin',
    headers: { 'BITS-Packet-Type': packetType, 'BITS-Session-Id': id },
  });

function expectBusy(answer: Answer): void {
  expect(answer.status).toBe(503);
  expect(answer.headers).toMatchObject({
    'bits-packet-type': 'Ack',
    'bits-error-code': '0x80004005',
    'bits-error': '0x80004005',
    'bits-error-context': '0x5',
    'content-length': '0',
  });
  expect(answer.headers['bits-session-id']).toBeUndefined();
}

describe('BITS_MAX_SESSIONS_PER_PRINCIPAL', () => {
  it('allows N open sessions and refuses the N+1st with 503 SERVER_BUSY, creating nothing', async () => {
    await openSessions('alice', LIMIT);
    const uploads = auth.bed.uploads.uploads.size;
    expectBusy(await create('alice'));
    expect(auth.bed.uploads.uploads.size).toBe(uploads);
    expect(await auth.bed.sessions.countOpenSessions('alice', auth.bed.clock.now())).toBe(LIMIT);
  });

  it('counts per principal: a full principal does not block another', async () => {
    await openSessions('alice', LIMIT);
    expect((await create('bob')).status).toBe(200);
  });

  it.each([
    ['closed', 'Close-Session'],
    ['cancelled', 'Cancel-Session'],
  ])('allows a new session once one is %s', async (_state, packetType) => {
    const [first] = await openSessions('alice', LIMIT);
    expectBusy(await create('alice'));
    expect((await packet('alice', packetType, first ?? '')).status).toBe(200);
    expect((await create('alice')).status).toBe(200);
    expectBusy(await create('alice'));
  });

  it('allows a new session once one has expired', async () => {
    const [first] = await openSessions('alice', LIMIT);
    expectBusy(await create('alice'));
    auth.bed.sessions.expire(first ?? '', auth.bed.clock.now());
    expect((await create('alice')).status).toBe(200);
  });

  it('frees every slot when the idle timeout passes', async () => {
    await openSessions('alice', LIMIT);
    auth.bed.clock.advance(14 * 24 * 3600);
    await openSessions('alice', LIMIT);
  });

  it('is off at 0 (the default)', async () => {
    auth = makeAuthBed({ authMode: 'upstream' });
    const count = jest.spyOn(auth.bed.sessions, 'countOpenSessions');
    await openSessions('alice', 60);
    expect(count).not.toHaveBeenCalled();
  });

  it('with limit 1 allows exactly one', async () => {
    auth = makeAuthBed({ authMode: 'upstream', maxSessionsPerPrincipal: '1' });
    await openSessions('alice', 1);
    expectBusy(await create('alice'));
  });

  it('leaves the other packets alone: a full principal still uploads into its open sessions', async () => {
    const [first] = await openSessions('alice', LIMIT);
    const fragment = await send(auth.handler, {
      principal: 'alice',
      path: '/up/x.bin',
      body: Buffer.from('abc'),
      headers: { 'BITS-Packet-Type': 'Fragment', 'BITS-Session-Id': first, 'Content-Range': 'bytes 0-2/3' },
    });
    expect(fragment.status).toBe(200);
  });
});

describe('DynamoDbSessionStore.countOpenSessions', () => {
  const dynamo = mockClient(DynamoDBDocumentClient);
  const store = new DynamoDbSessionStore(offlineDocumentClient(), 'sessions');
  beforeEach(() => dynamo.reset());
  afterAll(() => dynamo.restore());

  it('queries the owner index for open sessions expiring after now, counting only', async () => {
    dynamo.on(QueryCommand).resolves({ Count: 2 });
    expect(await store.countOpenSessions('DOMAIN\\alice', 1_700_000_000_000)).toBe(2);
    expect(dynamo.commandCalls(QueryCommand)[0]?.args[0].input).toEqual({
      TableName: 'sessions',
      IndexName: 'owner-index',
      KeyConditionExpression: '#owner = :owner AND expiresAt > :now',
      FilterExpression: '#state = :open',
      ExpressionAttributeNames: { '#owner': 'owner', '#state': 'state' },
      ExpressionAttributeValues: { ':owner': 'DOMAIN\\alice', ':now': 1_700_000_000_000, ':open': 'open' },
      Select: 'COUNT',
    });
  });

  it('adds up every page (a filtered page may count 0 and still have a next one)', async () => {
    const next = { pk: 'SESSION#x', sk: 'META', owner: 'alice', expiresAt: 1 };
    dynamo
      .on(QueryCommand)
      .resolvesOnce({ Count: 0, LastEvaluatedKey: next })
      .resolvesOnce({ Count: 5, LastEvaluatedKey: next })
      .resolvesOnce({ Count: 2 });
    expect(await store.countOpenSessions('alice', 0)).toBe(7);
    const calls = dynamo.commandCalls(QueryCommand);
    expect(calls).toHaveLength(3);
    expect(calls[1]?.args[0].input.ExclusiveStartKey).toEqual(next);
  });

  it('turns throttling into StoreUnavailableError (503 for the client)', async () => {
    dynamo.on(QueryCommand).rejects(Object.assign(new Error('slow down'), { name: 'ThrottlingException' }));
    await expect(store.countOpenSessions('alice', 0)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
