// Certificates and tokens of a data directory: a CA and a serving certificate generated on first
// start (ECDSA P-256: generation takes milliseconds, which keeps a fresh `kubelite up` fast), and a
// static token file in kube-apiserver's --token-auth-file format (token,user,uid,"group1,group2").
import { X509Certificate, randomBytes, webcrypto, createHash } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';

export interface ServingCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface TokenUser {
  name: string;
  uid: string;
  groups: string[];
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

async function importPkcs8(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return webcrypto.subtle.importKey('pkcs8', der, EC, true, ['sign']) as Promise<CryptoKey>;
}

function serial(): string {
  // Positive 128-bit serial (leading 01 keeps the DER integer positive).
  return '01' + randomBytes(15).toString('hex');
}

/** The subject alternative names a serving certificate must carry, normalised for comparison. */
function sanString(dns: string[], ips: string[]): string {
  return [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP Address:${i}`)].sort().join(', ');
}

function currentSans(certPem: string): string {
  const c = new X509Certificate(certPem);
  return (c.subjectAltName ?? '').split(', ').filter(Boolean).sort().join(', ');
}

/**
 * Ensure DIR/pki holds a CA and a serving certificate valid for the given names and IPs.
 * The CA is kept forever; the serving certificate is re-issued when its names change or it nears expiry.
 */
export async function ensureServingCredentials(dir: string, dns: string[], ips: string[]): Promise<ServingCredentials> {
  const pki = path.join(dir, 'pki');
  const caCrt = path.join(pki, 'ca.crt'), caKey = path.join(pki, 'ca.key');
  const crt = path.join(pki, 'apiserver.crt'), key = path.join(pki, 'apiserver.key');
  const want = sanString(dns, ips);

  if (existsSync(caCrt) && existsSync(caKey) && existsSync(crt) && existsSync(key)) {
    const [caPem, certPem, keyPem] = await Promise.all([fs.readFile(caCrt, 'utf8'), fs.readFile(crt, 'utf8'), fs.readFile(key, 'utf8')]);
    const validTo = Date.parse(new X509Certificate(certPem).validTo);
    if (currentSans(certPem) === want && validTo - Date.now() > 30 * DAY) return { caPem, certPem, keyPem };
  }

  // @peculiar/x509 is only needed to issue certificates; loading it lazily keeps restarts fast.
  await import('reflect-metadata'); // @peculiar/x509's dependency injection (tsyringe) needs it
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  await fs.mkdir(pki, { recursive: true, mode: 0o700 });

  let caPem: string, caPrivate: CryptoKey, caCert: InstanceType<typeof x509.X509Certificate>;
  if (existsSync(caCrt) && existsSync(caKey)) {
    caPem = await fs.readFile(caCrt, 'utf8');
    caCert = new x509.X509Certificate(caPem);
    caPrivate = await importPkcs8(await fs.readFile(caKey, 'utf8'));
  } else {
    const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: 'CN=kubelite-ca',
      notBefore: new Date(now - 3600 * 1000),
      notAfter: new Date(now + 3650 * DAY),
      keys: caKeys,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    caPem = caCert.toString('pem') + '\n';
    caPrivate = caKeys.privateKey;
    await fs.writeFile(caKey, pemKey(await webcrypto.subtle.exportKey('pkcs8', caKeys.privateKey)), { mode: 0o600 });
    await fs.writeFile(caCrt, caPem);
  }

  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: 'CN=kube-apiserver',
    issuer: caCert.subject,
    notBefore: new Date(now - 3600 * 1000),
    notAfter: new Date(now + 365 * DAY),
    signingKey: caPrivate,
    publicKey: keys.publicKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...dns.map((value) => ({ type: 'dns' as const, value })),
        ...ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  const keyPem = pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  await fs.writeFile(key, keyPem, { mode: 0o600 });
  await fs.writeFile(crt, certPem);
  return { caPem, certPem, keyPem };
}

/** A static token file: token,user,uid,"groups". Created with an admin token on first start. */
export async function ensureTokens(dir: string): Promise<{ adminToken: string; users: Map<string, TokenUser> }> {
  const file = path.join(dir, 'tokens.csv');
  if (!existsSync(file)) {
    const token = randomBytes(32).toString('base64url');
    await fs.writeFile(file, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
  }
  const users = parseTokenFile(await fs.readFile(file, 'utf8'));
  const admin = [...users].find(([, u]) => u.name === 'admin');
  if (!admin) throw new Error(`${file} has no admin user`);
  return { adminToken: admin[0], users };
}

export function parseTokenFile(text: string): Map<string, TokenUser> {
  const users = new Map<string, TokenUser>();
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const m = /^([^,]+),([^,]+),([^,]+)(?:,"?([^"]*)"?)?$/.exec(l);
    if (!m) continue;
    users.set(m[1], { name: m[2], uid: m[3], groups: m[4] ? m[4].split(',').filter(Boolean) : [] });
  }
  return users;
}

/** A stable short fingerprint, for logs (never log tokens). */
export function fingerprint(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}
