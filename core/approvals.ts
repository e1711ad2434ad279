import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomInt } from 'node:crypto';
import type { AssistantConfig } from './config.js';
import type { AuditInput } from './audit.js';
import { shellCommands, unwrapShell } from './shell-commands.js';

export type ToolRule = 'allow' | 'deny' | 'approve';

export interface Approval {
  id: string;
  assistant: string;
  tool: string;
  summary: string;
  requester: string;
  eventId: string;
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  createdAt: number;
  expiresAt: number;
}

export interface ApprovalStore {
  create(a: Omit<Approval, 'status'>): Promise<void>;
  get(id: string): Promise<Approval | undefined>;
  pending(now: number): Promise<Approval[]>;
  /**
   * Decides a pending, unexpired request, committing `audit` with the decision; false (and nothing recorded) when it
   * is unknown, expired or already decided.
   */
  decide(id: string, decision: 'approved' | 'rejected', by: string, now: number, audit: AuditInput[]): Promise<boolean>;
  expire(id: string, now: number): Promise<void>;
  /**
   * Expires what is still pending for an event, and names it: asked again, its turn runs again (a worker stopped
   * or died while it waited), and nothing waits for the old request any more.
   */
  supersede(eventId: string, now: number): Promise<string[]>;
}

/** The most of a command an owner is shown; one longer than this (as shown) is never put to an owner. */
export const MAX_SHOWN = 500;

/** A command as an owner reads it: runs of whitespace, control and invisible characters as one space. */
export const shownCommand = (command: string): string => command.replace(/[\s\p{Cc}\p{Cf}]+/gu, ' ').trim();

/** What a tool call runs, which rules are held against: its shell command if it has one, else nothing. */
export function toolCommand(input: unknown): string {
  const command = input && typeof input === 'object' && 'command' in input ? (input as { command: unknown }).command : undefined;
  return typeof command === 'string' ? command : '';
}

/**
 * Input keys that name paths, at any depth: any key ending in one of these words, whatever its case or separator
 * (`file_path`, `filePath`, `notebookPath`, `paths`, `targetDir`). A key named so that holds no path costs nothing.
 */
const PATH_KEY = /(?:path|paths|file|files|filename|filenames|dir|dirs|directory|cwd|target|destination|dest|src|source|uri|url)$/i;
const GLOB_CHARS = /[*?[{]/;
/** How deep and wide an input is read; beyond that it is refused rather than left unread. */
const MAX_DEPTH = 6;
const MAX_ENTRIES = 200;

/** The real path of `path`, through the longest part of it that exists: a symlink in it is followed. */
function realish(path: string): string {
  const rest: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    try {
      return join(realpathSync(p), ...rest.reverse());
    } catch {
      if (dirname(p) === p) return path;
      rest.push(basename(p));
    }
  }
}

/**
 * Where a path value points, from the agent's directory (its HOME too). Anything is read as a path, a web address
 * too: one resolves inside the directory, and `https://x/../../etc` does not.
 */
function target(value: string, workdir: string, glob: boolean): string {
  let v = value;
  if (/^file:/i.test(v)) {
    try {
      v = fileURLToPath(v);
    } catch {
      return '/'; // a file URL that does not parse is not given the benefit of the doubt
    }
  }
  v = v.replace(/^~(?=$|\/)/, workdir);
  if (glob && GLOB_CHARS.test(v)) {
    // Braces can name other roots (`{/etc,.}/passwd`), and a `..` after a wildcard climbs out of wherever it matched:
    // such a glob counts as outside.
    if (/\{[^}]*(?:\/|\.\.)[^}]*\}/.test(v) || /(?:^|\/)\.\.(?:\/|$)/.test(v.slice(v.search(GLOB_CHARS)))) return '/';
    // Otherwise a glob reaches what its fixed prefix names.
    v = dirname(`${v.slice(0, v.search(GLOB_CHARS))}x`);
  }
  return resolve(workdir, v);
}

/**
 * The first input field naming a path outside `workdir` (relative paths count from it, as the agent runs there;
 * symlinks are followed), or undefined. Fields are found by name at any depth, arrays included; a Glob's `pattern`
 * is a path too. A shell command's paths cannot be read this way: Bash rules must stay narrow.
 */
export function pathOutside(tool: string, input: unknown, workdir: string): string | undefined {
  const home = realish(workdir);
  const outside = (path: string) => {
    const rel = relative(home, realish(path));
    return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  };
  const walk = (value: unknown, key: string, depth: number): string | undefined => {
    if (value === null || typeof value !== 'object') return undefined;
    const entries = Array.isArray(value) ? value.map((x) => [key, x] as const) : Object.entries(value);
    if (depth > MAX_DEPTH || entries.length > MAX_ENTRIES) return `${key || 'input'} (too deep or too large to read)`;
    for (const [k, v] of entries) {
      const name = Array.isArray(value) ? key : k;
      const pathy = PATH_KEY.test(name) || (tool === 'Glob' && name === 'pattern');
      if (typeof v === 'string' && pathy) {
        if (outside(target(v, workdir, tool === 'Glob' || name === 'pattern'))) return name;
      } else if (typeof v === 'object') {
        const found = walk(v, name, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(input, '', 0);
}

/**
 * A tool rule's glob: `*` matches any run (line breaks too), anything else itself. Matched greedily with one point to
 * go back to, so at worst pattern × text steps: as a RegExp of `.*`s, a rule with a few stars took polynomial time
 * on a long command an agent could make up.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else return false;
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
/** Codex names its shell tool so, and reports each command wrapped in `bash -lc '…'`. */
const CODEX_SHELL = 'shell';

/** A pattern naming the tool itself (`Bash`, `mcp:github.*`: a tool name may hold a colon), whatever it runs. */
const namesToolAlone = (pattern: string, tool: string): boolean => globMatch(pattern, tool);

function matches(pattern: string, tool: string, command: string): boolean {
  if (namesToolAlone(pattern, tool)) return true;
  const cut = pattern.indexOf(':');
  return cut > 0 && globMatch(pattern.slice(0, cut), tool) && globMatch(pattern.slice(cut + 1), command);
}

/**
 * Deny wins over approve, approve over allow; what no rule names is denied. A command line is judged command by
 * command (core/shell-commands.ts): a deny or approve rule that names any of them applies to the whole line, and
 * allow or approve rules must name every one of them. A line with `$(…)`, backticks or redirections is allowed
 * only by a rule for the tool alone (`Bash`), which trusts any command.
 */
export function toolRule(tools: AssistantConfig['tools'], tool: string, command: string): ToolRule {
  if (!tools) return 'deny';
  const line = tool === CODEX_SHELL ? unwrapShell(command) : command;
  const { commands, opaque } = shellCommands(line);
  const pieces = [line, ...commands];
  const names = (patterns: string[]) => (text: string) => patterns.some((p) => matches(p, tool, text));
  const namesTool = (patterns: string[]) => patterns.some((p) => namesToolAlone(p, tool));
  if (pieces.some(names(tools.deny))) return 'deny';
  const covered =
    namesTool(tools.allow) || namesTool(tools.approve) || (!opaque && commands.every((c) => names(tools.allow)(c) || names(tools.approve)(c)));
  if (!covered) return 'deny';
  return pieces.some(names(tools.approve)) || namesTool(tools.approve) ? 'approve' : 'allow';
}

const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const APPROVAL_ID = /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/;
/** `/approve ID` or `/reject ID` in chat (`/approve@bot ID` in a Telegram group); group 2 is the id. */
export const APPROVAL_COMMAND = /^\/(approve|reject)(?:@\S+)?\s+([A-Za-z0-9]{6})\s*$/i;
export const newApprovalId = (): string => Array.from({ length: 6 }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
