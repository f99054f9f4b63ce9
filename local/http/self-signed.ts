import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import net from 'node:net';

/**
 * A self-signed TLS certificate for the local server, built with Node's crypto alone: Node can
 * make keys and signatures but has no X.509 writer, so the few DER structures of a certificate
 * (RFC 5280) are encoded here. No `openssl` binary and no extra package are needed.
 */

export interface SelfSignedOptions {
  /** DNS names for subjectAltName; the first is also the subject CN. Default ['localhost']. */
  readonly dnsNames?: readonly string[];
  /** IPv4/IPv6 addresses for subjectAltName. Default ['127.0.0.1', '::1']. */
  readonly ipAddresses?: readonly string[];
  /** Validity from `now` (minus one hour for clock skew). Default 30 days. */
  readonly days?: number;
  /** 'ec' (P-256, ECDSA-SHA256, the default) or 'rsa' (2048-bit, SHA256withRSA). */
  readonly keyType?: 'ec' | 'rsa';
  readonly now?: Date;
}

export interface SelfSignedCertificate {
  /** PEM certificate. */
  readonly cert: string;
  /** PEM PKCS#8 private key. */
  readonly key: string;
}

// Minimal DER writer (X.690): just the types a certificate uses.
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);
const octetString = (content: Buffer): Buffer => tlv(0x04, content);
const bitString = (content: Buffer, unusedBits = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const booleanTrue = (): Buffer => tlv(0x01, Buffer.from([0xff]));
const derNull = (): Buffer => tlv(0x05, Buffer.alloc(0));

/** A non-negative INTEGER from big-endian bytes, minimally encoded. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function objectId(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const groups: number[] = [arc % 128];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      groups.unshift(0x80 | (value % 128));
    }
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-11-23T09:05:01.123Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}

function ipBytes(address: string): Buffer {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!net.isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  const [head = '', tail] = address.split('::');
  const words = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((word) => Number.parseInt(word, 16));
  const left = words(head);
  const right = words(tail);
  const all =
    tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((word, index) => {
    out.writeUInt16BE(word, index * 2);
  });
  return out;
}

const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

const extension = (oid: string, critical: boolean, value: Buffer): Buffer =>
  sequence(objectId(oid), ...(critical ? [booleanTrue()] : []), octetString(value));

/**
 * A fresh key pair and a certificate for it, valid for TLS server authentication on the given
 * names and addresses. Clients must be told to trust it (Node: `ca: cert`).
 */
export function generateSelfSignedCertificate(options: SelfSignedOptions = {}): SelfSignedCertificate {
  const dnsNames = options.dnsNames ?? ['localhost'];
  const ipAddresses = options.ipAddresses ?? ['127.0.0.1', '::1'];
  const now = options.now ?? new Date();
  const days = options.days ?? 30;
  const keyType = options.keyType ?? 'ec';
  const { publicKey, privateKey }: { publicKey: KeyObject; privateKey: KeyObject } =
    keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  // ECDSA algorithm identifiers have no parameters; RSA ones carry NULL (RFC 5758 §3.2, RFC 4055 §5).
  const signatureAlgorithm =
    keyType === 'ec'
      ? sequence(objectId(OID.ecdsaWithSha256))
      : sequence(objectId(OID.sha256WithRsa), derNull());
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const name = sequence(set(sequence(objectId(OID.commonName), utf8String(dnsNames[0] ?? 'localhost'))));
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40; // positive, 16 bytes, never zero (RFC 5280 §4.1.2.2)
  const altNames = sequence(
    ...dnsNames.map((dns) => tlv(0x82, Buffer.from(dns, 'ascii'))),
    ...ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))),
  );
  // digitalSignature (bit 0), plus keyEncipherment (bit 2) for RSA; DER drops trailing zero bits.
  const keyUsage = keyType === 'ec' ? bitString(Buffer.from([0x80]), 7) : bitString(Buffer.from([0xa0]), 5);
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    signatureAlgorithm,
    name,
    sequence(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + days * 86_400_000))),
    name,
    spki,
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.keyUsage, true, keyUsage),
        extension(OID.extKeyUsage, false, sequence(objectId(OID.serverAuth))),
        extension(OID.subjectAltName, false, altNames),
        // Any unique value will do (RFC 5280 §4.2.1.2); a hash of the public key info is one.
        extension(OID.subjectKeyIdentifier, false, octetString(createHash('sha1').update(spki).digest())),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
