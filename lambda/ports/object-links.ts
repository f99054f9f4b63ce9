/**
 * Names and short-lived links of objects, for the application of an upload-reply session:
 * it reads the upload and may write its reply without credentials of its own.
 */
export interface ObjectLinks {
  readonly bucket: string;
  /** `s3://bucket/key`. */
  objectName(key: string): string;
  /** With `versionId` (a versioned bucket), the link reads that version only, whatever replaces it. */
  presignGet(key: string, expiresInSeconds: number, versionId?: string): Promise<string>;
  presignPut(key: string, expiresInSeconds: number): Promise<string>;
}
