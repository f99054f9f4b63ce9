import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  ScanCommand,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { errorCode, translateUnknown } from '../adapters/aws-errors';
import { sessionKey } from '../adapters/dynamodb-session-store';
import type { Session } from '../ports/session-store';

/** The sweeper's view of the session table. */
export interface ExpiredSessionSource {
  /**
   * Pages of ids of sessions whose record had, when read, `expiresAt <= cutoff` (epoch ms), in any
   * state. Candidates only: the sweeper re-reads each record before acting.
   */
  pages(cutoff: number): AsyncIterable<readonly string[]>;
  /**
   * Deletes the record of a finished session, if it is still as read (same state, expired before
   * the cutoff). A record that changed or is gone already is left alone.
   */
  forget(session: Session, cutoff: number): Promise<void>;
}

export interface DynamoDbExpiredSessionsOptions {
  /**
   * Items DynamoDB evaluates per Scan page (its `Limit`, counted before the filter). Unset means
   * DynamoDB's own 1 MB pages.
   */
  readonly pageSize?: number;
}

/**
 * Candidates from a Scan of the session table, filtered to META records past the cutoff. A Scan
 * reads (and bills) every item, parts included; the filter only trims what comes back. Eventually
 * consistent reads are fine: the sweeper re-reads each candidate consistently.
 */
export class DynamoDbExpiredSessions implements ExpiredSessionSource {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: DynamoDbExpiredSessionsOptions = {},
  ) {}

  async *pages(cutoff: number): AsyncGenerator<readonly string[]> {
    let startKey: Record<string, unknown> | undefined;
    do {
      let page: ScanCommandOutput;
      try {
        page = await this.documents.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'sk = :meta AND expiresAt <= :cutoff',
            ProjectionExpression: '#id',
            ExpressionAttributeNames: { '#id': 'id' },
            ExpressionAttributeValues: { ':meta': 'META', ':cutoff': cutoff },
            ExclusiveStartKey: startKey,
            Limit: this.options.pageSize,
          }),
        );
      } catch (error) {
        return translateUnknown(error, 'scanExpiredSessions');
      }
      startKey = page.LastEvaluatedKey;
      yield (page.Items ?? []).flatMap((item) => (typeof item.id === 'string' ? [item.id] : []));
    } while (startKey !== undefined);
  }

  async forget(session: Session, cutoff: number): Promise<void> {
    try {
      await this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: sessionKey(session.id),
          ConditionExpression: '#state = :state AND expiresAt <= :cutoff',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':state': session.state, ':cutoff': cutoff },
        }),
      );
    } catch (error) {
      if (errorCode(error) === 'ConditionalCheckFailedException') return;
      translateUnknown(error, 'forgetSession');
    }
  }
}
