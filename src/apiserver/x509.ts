// Issuing X.509 v3 certificates with node:crypto (keys, ECDSA signatures) and asn1js (DER).
// A full certificate library (@peculiar/x509) costs ~130 ms just to load, which alone would
// break the promise that `kubelite up` is ready in a fraction of a second on a fresh data
// dir; what a CA and a serving certificate need is small enough to spell out here.
// Go's strict DER parser (kubectl) is the consumer: DEFAULT values are omitted, BOOLEAN true
// is 0xFF (asn1js does both), times use UTCTime before 2050 as RFC 5280 requires.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1 from 'asn1js';

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

/** keyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KeyUsage = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

export interface CertificateRequest {
  subjectCN: string;
  issuerCN: string;
  publicKey: KeyObject;
  /** The issuer's private key (the subject's own for a self-signed CA). */
  signingKey: KeyObject;
  /** The issuer's public key, for the authority key identifier. */
  issuerPublicKey: KeyObject;
  isCA: boolean;
  keyUsage: number[];
  extKeyUsage?: ('serverAuth' | 'clientAuth')[];
  dnsNames?: string[];
  ipAddresses?: string[];
  notBefore: Date;
  notAfter: Date;
}

const der = (b: asn1.AsnType) => new Uint8Array(b.toBER(false));

function name(cn: string): asn1.Sequence {
  return new asn1.Sequence({ value: [new asn1.Set({ value: [new asn1.Sequence({
    value: [new asn1.ObjectIdentifier({ value: OID.commonName }), new asn1.Utf8String({ value: cn })],
  })] })] });
}

function time(d: Date): asn1.AsnType {
  return d.getUTCFullYear() < 2050 ? new asn1.UTCTime({ valueDate: d }) : new asn1.GeneralizedTime({ valueDate: d });
}

function extension(oid: string, critical: boolean, value: asn1.AsnType): asn1.Sequence {
  return new asn1.Sequence({ value: [
    new asn1.ObjectIdentifier({ value: oid }),
    ...(critical ? [new asn1.Boolean({ value: true })] : []),
    new asn1.OctetString({ valueHex: der(value) }),
  ] });
}

/** The key identifier of RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(key: KeyObject): Uint8Array {
  const spki = asn1.fromBER(new Uint8Array(key.export({ type: 'spki', format: 'der' })).buffer);
  const bits = (spki.result as asn1.Sequence).valueBlock.value[1] as asn1.BitString;
  return createHash('sha1').update(new Uint8Array(bits.valueBlock.valueHexView.slice(1))).digest();
}

function keyUsageBits(bits: number[]): asn1.BitString {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  // DER: a one-byte bit string with the trailing unused bits counted.
  let unused = 0;
  while (unused < 7 && !(v & (1 << unused))) unused++;
  return new asn1.BitString({ valueHex: new Uint8Array([v]), unusedBits: unused });
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return new Uint8Array(ip.split('.').map(Number));
  // IPv6: expand '::' and write 8 groups of 16 bits.
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [], t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { const n = parseInt(g, 16); out[2 * i] = n >> 8; out[2 * i + 1] = n & 0xff; });
  return out;
}

export function issueCertificate(req: CertificateRequest): string {
  const sigAlg = new asn1.Sequence({ value: [new asn1.ObjectIdentifier({ value: OID.ecdsaWithSHA256 })] });
  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive INTEGER
  serial[0] |= 0x01; // and never a leading zero byte

  const exts: asn1.Sequence[] = [
    extension(OID.keyUsage, true, keyUsageBits(req.keyUsage)),
    extension(OID.basicConstraints, true, new asn1.Sequence({ value: req.isCA ? [new asn1.Boolean({ value: true })] : [] })),
    extension(OID.subjectKeyIdentifier, false, new asn1.OctetString({ valueHex: keyIdentifier(req.publicKey) })),
  ];
  if (!req.isCA) {
    exts.push(extension(OID.authorityKeyIdentifier, false, new asn1.Sequence({ value: [
      new asn1.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: keyIdentifier(req.issuerPublicKey) }),
    ] })));
  }
  if (req.extKeyUsage?.length) {
    exts.push(extension(OID.extKeyUsage, false, new asn1.Sequence({ value: req.extKeyUsage.map((u) => new asn1.ObjectIdentifier({ value: OID[u] })) })));
  }
  const sans = [
    ...(req.dnsNames ?? []).map((d) => new asn1.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 }, valueHex: new TextEncoder().encode(d) })),
    ...(req.ipAddresses ?? []).map((ip) => new asn1.Primitive({ idBlock: { tagClass: 3, tagNumber: 7 }, valueHex: ipBytes(ip) })),
  ];
  if (sans.length) exts.push(extension(OID.subjectAltName, false, new asn1.Sequence({ value: sans })));

  const spki = asn1.fromBER(new Uint8Array(req.publicKey.export({ type: 'spki', format: 'der' })).buffer).result;
  const tbs = new asn1.Sequence({ value: [
    new asn1.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1.Integer({ value: 2 })] }),
    new asn1.Integer({ valueHex: serial }),
    sigAlg,
    name(req.issuerCN),
    new asn1.Sequence({ value: [time(req.notBefore), time(req.notAfter)] }),
    name(req.subjectCN),
    spki,
    new asn1.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1.Sequence({ value: exts })] }),
  ] });
  const tbsDer = der(tbs);
  const signature = sign('sha256', tbsDer, { key: req.signingKey, dsaEncoding: 'der' });
  const cert = new asn1.Sequence({ value: [
    asn1.fromBER(tbsDer.buffer.slice(tbsDer.byteOffset, tbsDer.byteOffset + tbsDer.byteLength)).result,
    sigAlg,
    new asn1.BitString({ valueHex: new Uint8Array(signature) }),
  ] });
  const b64 = Buffer.from(der(cert)).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export function privateKeyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function publicKeyOf(key: KeyObject): KeyObject {
  return createPublicKey(key);
}
