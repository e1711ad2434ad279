import { statSync } from 'node:fs';
import type { Verdict } from './doctor.js';

/**
 * Who besides its owner can reach the data directory. Its files are 0600 whatever the directory's mode, but a
 * directory others can write lets them rename and replace those files: a database of their own (with their API key
 * in it), or another master key. One others can merely list shows them which files exist.
 */
export function dataDirVerdict(dir: string): Verdict {
  const mode = statSync(dir).mode & 0o7777;
  const octal = mode.toString(8); // with a sticky or setgid bit, as ls would show it
  if (mode & 0o022) {
    return { ok: false, what: 'data dir', detail: `${dir} is writable by group or others (mode ${octal}): they could replace its database or master key; run chmod 700 ${dir}` };
  }
  if (mode & 0o077) return { ok: true, warn: true, what: 'data dir', detail: `group or others can list ${dir} (mode ${octal}), though not read its files; run chmod 700 ${dir}` };
  return { ok: true, what: 'data dir', detail: `${dir}: only its owner can enter it (mode ${octal})` };
}
