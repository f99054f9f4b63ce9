import {
  type ListPartsCommandOutput,
  NoSuchUpload,
  type Part,
  type S3Client,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { FinalizeRequestMiddleware } from '@smithy/types';
import { commandOf, requestPayloadBytes } from './counters';

interface Shim {
  /** ListParts calls answered here; on real S3 each would be one more request. */
  readonly answered: () => number;
  readonly reset: () => void;
}

/**
 * fauxqs 1.9.2 has no ListParts, and the tus S3 store calls it on every PATCH (to find the next part
 * number and the offset); without an answer each PATCH fails with 409. This middleware on the tus
 * store's S3 client remembers the parts its UploadPart calls stored (number, ETag, size) and answers
 * ListParts from them without a request, the way S3 would for a single writer.
 *
 * It sits at the finalizeRequest step, inside the retry loop, where the request already carries its
 * Content-Length (the store sends parts as file streams without one) and next() returns the
 * deserialized output with the ETag.
 */
export function installListPartsShim(client: S3Client): Shim {
  const uploads = new Map<string, Map<number, Part>>();
  let answered = 0;
  const middleware: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> =
    (next, context) => async (args) => {
      const name = commandOf(context);
      const input = args.input as {
        Bucket?: string;
        Key?: string;
        UploadId?: string;
        PartNumber?: number;
        PartNumberMarker?: string;
      };
      if (name === 'ListParts') {
        answered += 1;
        const parts = uploads.get(input.UploadId ?? '');
        if (parts === undefined) {
          // What S3 says once an upload was completed or aborted; the store relies on it.
          throw new NoSuchUpload({
            message: 'The specified upload does not exist.',
            $metadata: { httpStatusCode: 404 },
          });
        }
        const after = Number(input.PartNumberMarker ?? 0);
        const output: ListPartsCommandOutput = {
          $metadata: { httpStatusCode: 200 },
          Bucket: input.Bucket,
          Key: input.Key,
          UploadId: input.UploadId,
          Parts: [...parts.values()]
            .filter((part) => (part.PartNumber ?? 0) > after)
            .sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0)),
          IsTruncated: false,
        };
        return { output, response: {} };
      }
      const result = await next(args);
      const output = result.output as { UploadId?: string; ETag?: string };
      if (name === 'CreateMultipartUpload' && output.UploadId !== undefined) {
        uploads.set(output.UploadId, new Map());
      } else if (name === 'UploadPart' && input.PartNumber !== undefined) {
        uploads.get(input.UploadId ?? '')?.set(input.PartNumber, {
          PartNumber: input.PartNumber,
          ETag: output.ETag,
          Size: requestPayloadBytes(args.request),
        });
      } else if (name === 'CompleteMultipartUpload' || name === 'AbortMultipartUpload') {
        uploads.delete(input.UploadId ?? '');
      }
      return result;
    };
  client.middlewareStack.add(middleware, {
    step: 'finalizeRequest',
    priority: 'low',
    name: 'benchListPartsShim',
  });
  return {
    answered: () => answered,
    reset: () => {
      answered = 0;
    },
  };
}
