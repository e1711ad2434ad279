import { createCipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, randomBytes, X509Certificate } from 'node:crypto';
import { ContentInfo, EncryptedContent, EncryptedContentInfo, id_data, id_encryptedData } from '@peculiar/asn1-cms';
import {
  AuthenticatedSafe,
  CertBag,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
  MacData,
  PFX,
  PKCS12Attribute,
  SafeBag,
  SafeContents,
} from '@peculiar/asn1-pfx';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { id_pkcs9_at_friendlyName, id_pkcs9_at_localKeyId } from '@peculiar/asn1-pkcs9';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';

/**
 * PKCS#12 (RFC 7292) the way OpenSSL 3 writes it by default: the key in a PKCS#8 shrouded key bag and the
 * certificates in an EncryptedData safe, both PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), and a SHA-256 HMAC over the
 * authenticated safe with the PKCS#12 key derivation. The ASN.1 structures come from the @peculiar/asn1-* schemas;
 * the two that have none (PBES2-params and CMS EncryptedData) are built with asn1js.
 */

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
};

/** One count for PBKDF2 and the MAC: an attacker takes the cheaper of the two, so they stay equal. */
export const DEFAULT_P12_ITERATIONS = 200_000;

export interface Pkcs12Input {
  keyPem: string;
  certPem: string;
  /** Issuer certificates to include (the CA), so a browser or OS can show and trust the chain. */
  caPems: string[];
  password: string;
  friendlyName: string;
  iterations?: number;
}

const toAB = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const der = (v: asn1js.BaseBlock): ArrayBuffer => v.toBER(false);

function pbes2Encrypt(password: Buffer, plaintext: Buffer, iterations: number): { algorithm: AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const oid = (value: string) => new asn1js.ObjectIdentifier({ value });
  const params = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [
          oid(OID.pbkdf2),
          new asn1js.Sequence({
            value: [
              new asn1js.OctetString({ valueHex: salt }),
              new asn1js.Integer({ value: iterations }),
              new asn1js.Sequence({ value: [oid(OID.hmacWithSha256), new asn1js.Null()] }),
            ],
          }),
        ],
      }),
      new asn1js.Sequence({ value: [oid(OID.aes256Cbc), new asn1js.OctetString({ valueHex: iv })] }),
    ],
  });
  return { algorithm: new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: der(params) }), ciphertext };
}

/** RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64); `id` 3 derives the MAC key. */
export function pkcs12Kdf(password: Buffer, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const u = 32;
  const v = 64;
  const fill = (src: Buffer): Buffer => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([fill(salt), fill(password)]);
  const blocks: Buffer[] = [];
  for (let got = 0; got < length; got += u) {
    let a = createHash('sha256').update(d).update(i).digest();
    for (let r = 1; r < iterations; r++) a = createHash('sha256').update(a).digest();
    blocks.push(a);
    const b = fill(a);
    for (let j = 0; j < i.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[j + k]! + b[k]! + carry;
        i[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** The password as a BMPString with its two-byte terminator, as the PKCS#12 MAC derivation wants it. */
function bmpPassword(password: string): Buffer {
  const utf16le = Buffer.from(`${password}\0`, 'utf16le');
  return Buffer.from(utf16le.swap16());
}

function attribute(attrId: string, value: asn1js.BaseBlock): PKCS12Attribute {
  // PKCS12Attribute's constructor ignores its argument (asn1-pfx 2.x), so the fields are set here.
  const a = new PKCS12Attribute();
  a.attrId = attrId;
  a.attrValues = [der(value)];
  return a;
}

function certBag(certDer: Buffer, attributes?: PKCS12Attribute[]): SafeBag {
  const bag = new CertBag({ certId: id_x509Certificate, certValue: der(new asn1js.OctetString({ valueHex: certDer })) });
  return new SafeBag({ bagId: id_certBag, bagValue: AsnConvert.serialize(bag), ...(attributes ? { bagAttributes: attributes } : {}) });
}

const dataContent = (octets: ArrayBuffer): ContentInfo =>
  new ContentInfo({ contentType: id_data, content: der(new asn1js.OctetString({ valueHex: octets })) });

export function buildPkcs12(input: Pkcs12Input): Buffer {
  if (!input.password) throw new Error('a PKCS#12 password must not be empty');
  const iterations = input.iterations ?? DEFAULT_P12_ITERATIONS;
  const pass = Buffer.from(input.password, 'utf8');
  const cert = new X509Certificate(input.certPem);
  const key = createPrivateKey(input.keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error('the private key does not belong to the certificate');

  const localKeyId = createHash('sha256').update(cert.raw).digest();
  const attributes = [
    attribute(id_pkcs9_at_localKeyId, new asn1js.OctetString({ valueHex: localKeyId })),
    attribute(id_pkcs9_at_friendlyName, new asn1js.BmpString({ value: input.friendlyName })),
  ];

  // Certificates: an encrypted safe (CMS EncryptedData, version 0).
  const certSafe = new SafeContents([certBag(cert.raw, attributes), ...input.caPems.map((pem) => certBag(new X509Certificate(pem).raw))]);
  const sealedCerts = pbes2Encrypt(pass, Buffer.from(AsnConvert.serialize(certSafe)), iterations);
  const eci = new EncryptedContentInfo({
    contentType: id_data,
    contentEncryptionAlgorithm: sealedCerts.algorithm,
    encryptedContent: new EncryptedContent({ value: new OctetString(toAB(sealedCerts.ciphertext)) }),
  });
  const encryptedData = new asn1js.Sequence({ value: [new asn1js.Integer({ value: 0 }), asn1js.fromBER(AsnConvert.serialize(eci)).result] });

  // The key: a shrouded key bag (encrypted PKCS#8) in a plain data safe.
  const sealedKey = pbes2Encrypt(pass, key.export({ type: 'pkcs8', format: 'der' }), iterations);
  const shrouded = new EncryptedPrivateKeyInfo({
    encryptionAlgorithm: sealedKey.algorithm,
    encryptedData: new EncryptedData(toAB(sealedKey.ciphertext)),
  });
  const keySafe = new SafeContents([new SafeBag({ bagId: id_pkcs8ShroudedKeyBag, bagValue: AsnConvert.serialize(shrouded), bagAttributes: attributes })]);

  const authSafe = AsnConvert.serialize(
    new AuthenticatedSafe([new ContentInfo({ contentType: id_encryptedData, content: der(encryptedData) }), dataContent(AsnConvert.serialize(keySafe))]),
  );

  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf(bmpPassword(input.password), macSalt, 3, iterations, 32);
  const mac = createHmac('sha256', macKey).update(Buffer.from(authSafe)).digest();
  const pfx = new PFX({
    version: 3,
    authSafe: dataContent(authSafe),
    macData: new MacData({
      mac: new DigestInfo({ digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }), digest: new OctetString(toAB(mac)) }),
      macSalt: new OctetString(toAB(macSalt)),
      iterations,
    }),
  });
  return Buffer.from(AsnConvert.serialize(pfx));
}
