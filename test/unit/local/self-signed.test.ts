import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { generateSelfSignedCertificate } from '../../../local/http/self-signed';

describe('generateSelfSignedCertificate', () => {
  it.each(['ec', 'rsa'] as const)('makes a valid %s certificate for localhost and loopback', (keyType) => {
    const now = new Date('2026-11-23T09:00:00Z');
    const { cert, key } = generateSelfSignedCertificate({ keyType, now, days: 7 });
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe('CN=localhost');
    expect(x509.issuer).toBe('CN=localhost');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.checkIP('10.0.0.1')).toBeUndefined();
    expect(x509.ca).toBe(false);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new Date(x509.validFrom).getTime()).toBe(now.getTime() - 3600_000);
    expect(new Date(x509.validTo).getTime()).toBe(now.getTime() + 7 * 86_400_000);
    expect(createPublicKey(key).asymmetricKeyType).toBe(keyType);
  });

  it('takes other names and addresses, and writes GeneralizedTime past 2049', () => {
    const { cert } = generateSelfSignedCertificate({
      dnsNames: ['bits.test', 'alt.bits.test'],
      ipAddresses: ['192.168.10.20', 'fe80::1:2'],
      now: new Date('2060-01-01T00:00:00Z'),
    });
    const x509 = new X509Certificate(cert);
    expect(x509.subject).toBe('CN=bits.test');
    expect(x509.subjectAltName).toBe(
      'DNS:bits.test, DNS:alt.bits.test, IP Address:192.168.10.20, IP Address:FE80:0:0:0:0:0:1:2',
    );
    expect(x509.validTo).toMatch(/2060 GMT$/);
  });

  it('gives every certificate its own key and serial number', () => {
    const a = new X509Certificate(generateSelfSignedCertificate().cert);
    const b = new X509Certificate(generateSelfSignedCertificate().cert);
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.fingerprint256).not.toBe(b.fingerprint256);
  });
});
