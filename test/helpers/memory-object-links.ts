import type { ObjectLinks } from '../../lambda/ports/object-links';

/** Links that name the key and method, so tests can see which object an application was pointed at. */
export class MemoryObjectLinks implements ObjectLinks {
  constructor(readonly bucket = 'uploads') {}

  objectName(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async presignGet(key: string, expiresInSeconds: number, versionId?: string): Promise<string> {
    const version = versionId === undefined ? '' : `&versionId=${encodeURIComponent(versionId)}`;
    return `https://s3.test/${this.bucket}/${encodeURI(key)}?method=GET&expires=${expiresInSeconds}${version}`;
  }

  async presignPut(key: string, expiresInSeconds: number): Promise<string> {
    return `https://s3.test/${this.bucket}/${encodeURI(key)}?method=PUT&expires=${expiresInSeconds}`;
  }
}
