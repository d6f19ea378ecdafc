// Certificates and tokens of a data directory: a CA and a serving certificate generated on first
// start (ECDSA P-256: generation takes milliseconds, which keeps a fresh `kubelite up` fast), and a
// static token file in kube-apiserver's --token-auth-file format (token,user,uid,"group1,group2").
import { X509Certificate, createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { promises as fs, existsSync } from 'node:fs';
import path from 'node:path';
import { issueCertificate, KeyUsage, privateKeyFromPem, publicKeyOf } from './x509.js';

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

const DAY = 24 * 3600 * 1000;

function newKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function keyPem(k: KeyObject): string {
  return k.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The subject alternative names a serving certificate must carry, as X509Certificate prints them, sorted. */
function sanString(dns: string[], ips: string[]): string {
  const ipText = (ip: string) => (ip.includes(':') ? new X509IPv6(ip).toString() : ip);
  return [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP Address:${ipText(i)}`)].sort().join(', ');
}

/** Node prints IPv6 SANs fully expanded in upper case (e.g. 0:0:0:0:0:0:0:1). */
class X509IPv6 {
  constructor(private readonly ip: string) {}
  toString(): string {
    const [head, tail] = this.ip.split('::');
    const h = head ? head.split(':') : [], t = tail ? tail.split(':') : [];
    const groups = this.ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
    return groups.map((g) => parseInt(g, 16).toString(16).toUpperCase()).join(':');
  }
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

  if (existsSync(caCrt) && existsSync(caKey) && existsSync(crt) && existsSync(key)) {
    const [caPem, certPem, keyPem] = await Promise.all([fs.readFile(caCrt, 'utf8'), fs.readFile(crt, 'utf8'), fs.readFile(key, 'utf8')]);
    const validTo = Date.parse(new X509Certificate(certPem).validTo);
    if (currentSans(certPem) === sanString(dns, ips) && validTo - Date.now() > 30 * DAY) return { caPem, certPem, keyPem };
  }
  await fs.mkdir(pki, { recursive: true, mode: 0o700 });
  const now = Date.now();

  let caPem: string, ca: { privateKey: KeyObject; publicKey: KeyObject };
  if (existsSync(caCrt) && existsSync(caKey)) {
    caPem = await fs.readFile(caCrt, 'utf8');
    const privateKey = privateKeyFromPem(await fs.readFile(caKey, 'utf8'));
    ca = { privateKey, publicKey: publicKeyOf(privateKey) };
  } else {
    ca = newKey();
    caPem = issueCertificate({
      subjectCN: 'kubelite-ca', issuerCN: 'kubelite-ca', publicKey: ca.publicKey, signingKey: ca.privateKey, issuerPublicKey: ca.publicKey,
      isCA: true, keyUsage: [KeyUsage.digitalSignature, KeyUsage.keyCertSign, KeyUsage.cRLSign],
      notBefore: new Date(now - 3600 * 1000), notAfter: new Date(now + 3650 * DAY),
    });
    await fs.writeFile(caKey, keyPem(ca.privateKey), { mode: 0o600 });
    await fs.writeFile(caCrt, caPem);
  }

  const serving = newKey();
  const certPem = issueCertificate({
    subjectCN: 'kube-apiserver', issuerCN: 'kubelite-ca', publicKey: serving.publicKey, signingKey: ca.privateKey, issuerPublicKey: ca.publicKey,
    isCA: false, keyUsage: [KeyUsage.digitalSignature, KeyUsage.keyEncipherment], extKeyUsage: ['serverAuth'],
    dnsNames: dns, ipAddresses: ips,
    notBefore: new Date(now - 3600 * 1000), notAfter: new Date(now + 365 * DAY),
  });
  const servingKeyPem = keyPem(serving.privateKey);
  await fs.writeFile(key, servingKeyPem, { mode: 0o600 });
  await fs.writeFile(crt, certPem);
  return { caPem, certPem, keyPem: servingKeyPem };
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
