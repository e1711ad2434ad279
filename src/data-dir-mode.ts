import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Verdict } from './doctor.js';

const STICKY = 0o1000;

/**
 * A directory above `dir` (links resolved) where others (o+w, first) or a group (g+w) may rename entries: writable
 * without the sticky bit that keeps /tmp safe. Not a group of this user's own: with user private groups (Debian,
 * Ubuntu: umask 002) every directory a user makes is group-writable, and the group is the user alone.
 */
function renamableAbove(dir: string): { path: string; mode: number; by: 'others' | 'group' } | undefined {
  let group: { path: string; mode: number; by: 'group' } | undefined;
  for (let at = dirname(realpathSync(dir)); ; at = dirname(at)) {
    const { mode: full, gid } = statSync(at);
    const mode = full & 0o7777;
    if (!(mode & STICKY) && mode & 0o002) return { path: at, mode, by: 'others' };
    if (!(mode & STICKY) && mode & 0o020 && gid !== process.getgid?.()) group ??= { path: at, mode, by: 'group' };
    if (dirname(at) === at) return group;
  }
}

/**
 * Who besides its owner can reach the data directory. Its files are 0600 whatever the directory's mode, but a
 * directory others can write lets them rename and replace those files: a database of their own (with their API key
 * in it), or another master key. One others can merely list shows them which files exist. A directory above it that
 * others may rename entries in lets them replace the whole data dir: a warning only, since such a parent is often
 * not the user's to change (a shared volume).
 */
export function dataDirVerdict(dir: string): Verdict {
  const mode = statSync(dir).mode & 0o7777;
  const octal = mode.toString(8); // with a sticky or setgid bit, as ls would show it
  if (mode & 0o022) {
    return { ok: false, what: 'data dir', detail: `${dir} is writable by group or others (mode ${octal}): they could replace its database or master key; run chmod 700 ${dir}` };
  }
  if (mode & 0o077) return { ok: true, warn: true, what: 'data dir', detail: `group or others can list ${dir} (mode ${octal}), though not read its files; run chmod 700 ${dir}` };
  const above = renamableAbove(dir);
  if (above) {
    const who = above.by === 'others' ? 'others' : 'its group';
    return { ok: true, warn: true, what: 'data dir', detail: `${above.path}, above ${dir}, is writable by ${who} (mode ${above.mode.toString(8)}, no sticky bit): they could put a data dir of their own in its place; move the data dir, or run chmod ${above.by === 'others' ? 'o-w' : 'g-w'} ${above.path}` };
  }
  return { ok: true, what: 'data dir', detail: `${dir}: only its owner can enter it (mode ${octal})` };
}
