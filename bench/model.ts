import { choosePartSize } from '../lambda/assembler/part-size';
import { planFragment } from '../lambda/assembler/plan-fragment';
import type { StagedChunk } from '../lambda/ports/session-store';

/** What the assembler's own planner says an upload costs (design.md's cost model, computed). */
export interface ModelPrediction {
  readonly partSize: number;
  readonly fragments: number;
  /** UploadPart + staged PutObject bodies. */
  readonly bytesWritten: number;
  /** Staged chunks read back (GetObject bodies): none when the server holds them in a part buffer. */
  readonly bytesRead: number;
  /** Staged bytes consumed into parts and merged chunks (what is read back without part buffers). */
  readonly bytesConsumed: number;
  /** S3 requests of the Fragment packets, by command (the same names the counters use). */
  readonly s3Requests: Readonly<Record<'GetObject' | 'UploadPart' | 'PutObject' | 'DeleteObjects', number>>;
  /** DynamoDB writes of the Fragment packets: one UpdateItem each, one PutItem per part. */
  readonly dynamoWrites: Readonly<Record<'UpdateItem' | 'PutItem', number>>;
  /**
   * Largest buffer one Fragment assembles: from its first staged chunk to the end of the first output
   * holding staged bytes (a part or a merged chunk); the fragment's own body is not counted.
   */
  readonly largestBuffer: number;
}

/** DeleteObjects takes 1,000 keys per request (s3-upload-store.ts). */
const DELETE_BATCH = 1000;

/**
 * Replays planFragment over a whole upload sent in order, `fragmentSize` bytes at a time, exactly as
 * store-fragment.ts applies the plans when nothing races or fails. With `partBuffers` one server
 * environment serves every fragment and holds what it staged (lambda/assembler/part-buffers.ts), so
 * nothing is read back; without, every consumed chunk is (as when each fragment reaches another
 * Lambda environment).
 */
export function predict(
  total: number,
  fragmentSize: number,
  configuredPartSize: number,
  partBuffers: boolean,
): ModelPrediction {
  const partSize = choosePartSize(total, configuredPartSize);
  let staged: StagedChunk[] = [];
  let partsDone = 0;
  let nextOffset = 0;
  let fragments = 0;
  let bytesWritten = 0;
  let bytesConsumed = 0;
  let largestBuffer = 0;
  const s3Requests = { GetObject: 0, UploadPart: 0, PutObject: 0, DeleteObjects: 0 };
  const dynamoWrites = { UpdateItem: 0, PutItem: 0 };
  while (nextOffset < total) {
    const freshLength = Math.min(fragmentSize, total - nextOffset);
    const plan = planFragment({ total, partSize, partsDone, nextOffset, staged, freshLength });
    const read = plan.reads.reduce((sum, chunk) => sum + chunk.end - chunk.start, 0);
    fragments += 1;
    bytesConsumed += read;
    const origin = plan.reads[0]?.start;
    const until = plan.parts[0]?.end ?? plan.stage?.end ?? nextOffset;
    if (origin !== undefined) largestBuffer = Math.max(largestBuffer, until - origin);
    if (!partBuffers) s3Requests.GetObject += plan.reads.length;
    s3Requests.DeleteObjects += Math.ceil(plan.reads.length / DELETE_BATCH);
    for (const part of plan.parts) {
      bytesWritten += part.end - part.start;
      s3Requests.UploadPart += 1;
      dynamoWrites.PutItem += 1;
    }
    staged = [...plan.keep];
    if (plan.stage !== undefined) {
      bytesWritten += plan.stage.end - plan.stage.start;
      s3Requests.PutObject += 1;
      // The checksum does not matter to the planner; only ranges and levels do.
      staged.push({ ...plan.stage, checksum: '' });
    }
    dynamoWrites.UpdateItem += 1;
    partsDone = plan.partsDone;
    nextOffset += freshLength;
  }
  const bytesRead = partBuffers ? 0 : bytesConsumed;
  return {
    partSize,
    fragments,
    bytesWritten,
    bytesRead,
    bytesConsumed,
    s3Requests,
    dynamoWrites,
    largestBuffer,
  };
}
