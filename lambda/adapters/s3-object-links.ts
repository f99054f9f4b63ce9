import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectLinks } from '../ports/object-links';

/**
 * Presigned S3 URLs (SigV4 query authentication), signed locally with the function's own
 * credentials: no request to S3. A URL is valid for its expiry or until those credentials expire,
 * whichever comes first, and grants exactly one method on one key.
 */
export class S3ObjectLinks implements ObjectLinks {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  objectName(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  presignGet(key: string, expiresInSeconds: number, versionId?: string): Promise<string> {
    // A version id is a query parameter, so it survives presigning. An If-Match would stay a signed
    // header that the application would have to send itself, which IIS-style applications do not.
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: key,
      ...(versionId === undefined ? {} : { VersionId: versionId }),
    });
    return getSignedUrl(this.s3, command, { expiresIn: expiresInSeconds });
  }

  presignPut(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new PutObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }
}
