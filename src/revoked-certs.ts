import { X509Certificate } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Client certificates taken back before they expire (a lost device, a replaced certificate): one line each in
 * `<data-dir>/certs/revoked`, `<SHA-256 fingerprint> <name> <revoked-at>`. The mTLS check reads it again whenever it
 * changes, so a revocation holds from the next request on, with no restart. Kept beside the CA, which it amends.
 */
const revokedPath = (certsDir: string): string => join(certsDir, 'revoked');

/** Adds a certificate to the list (kept by its fingerprint, which names it whatever its file is called later). */
export function revoke(certsDir: string, pem: string | Buffer, name: string): string {
  const fingerprint = new X509Certificate(pem).fingerprint256;
  const file = revokedPath(certsDir);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${fingerprint} ${name} ${new Date().toISOString()}\n`, { mode: 0o644 });
  return fingerprint;
}

/** Whether a fingerprint is on the list: the file read again when its size or time changed. */
export function revokedCheck(certsDir: string): (fingerprint: string) => boolean {
  const file = revokedPath(certsDir);
  let seen = '';
  let revoked = new Set<string>();
  return (fingerprint) => {
    // One stat per request: the list is read again only when it changed.
    const stat = statSync(file, { throwIfNoEntry: false });
    const version = stat ? `${stat.size}:${stat.mtimeMs}` : '';
    if (version !== seen) {
      revoked = new Set(stat ? readFileSync(file, 'utf8').split('\n').map((line) => line.split(' ')[0]!).filter(Boolean) : []);
      seen = version;
    }
    return revoked.has(fingerprint);
  };
}
