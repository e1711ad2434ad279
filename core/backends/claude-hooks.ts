import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { ToolDecision, ToolRequest } from '../backend.js';
import { goneHere, HOST, PROCESS_START } from '../process-identity.js';

/**
 * Claude Code's PreToolUse hook, run by Claude Code (through a shell) before every tool: it hands the tool call to
 * the gateway over a Unix socket and prints the answer as Claude Code's hook output. It fails closed: anything
 * that goes wrong exits 2, which blocks the tool (any other failing exit code would let the tool run).
 */
const HOOK_SCRIPT = `'use strict';
const net = require('node:net');
const fail = (why) => { try { process.stderr.write('MonkeyClaw blocked this tool: ' + why + '\\n'); } finally { process.exit(2); } };
process.on('uncaughtException', (e) => fail(String(e && e.message)));
// Before Claude Code's own limit for the hook, whose expiry would let the tool run.
setTimeout(() => fail('no decision in time'), Number(process.argv[3]));
// Claude Code gave up on the hook (its shell was killed): a decision now would reach nobody, so none is asked for.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(2); }, 100);
const MAX = 4 * 1024 * 1024;
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; if (input.length > MAX) fail('the tool call is too large'); });
process.stdin.on('end', () => {
  let call;
  try { call = JSON.parse(input); } catch { return fail('unreadable hook input'); }
  const c = net.createConnection(process.argv[2]);
  let answer = '';
  let decided = false; // the connection's end, right behind the answer, must not turn it into a failure
  c.setEncoding('utf8');
  c.on('data', (d) => {
    if (decided) return;
    answer += d;
    const nl = answer.indexOf('\\n');
    if (nl < 0) { if (answer.length > MAX) fail('unreadable answer'); return; }
    let a;
    try { a = JSON.parse(answer.slice(0, nl)); } catch { return fail('unreadable answer'); }
    decided = true;
    const allow = a.allow === true;
    const out = { hookSpecificOutput: { hookEventName: 'PreToolUse', permissionDecision: allow ? 'allow' : 'deny',
      permissionDecisionReason: typeof a.reason === 'string' ? a.reason : allow ? 'allowed by the gateway' : 'denied by the gateway' } };
    process.stdout.write(JSON.stringify(out) + '\\n', () => process.exit(0));
  });
  c.on('error', (e) => decided || fail('the gateway cannot be reached (' + e.message + ')'));
  c.on('close', () => decided || fail('the gateway gave no answer'));
  c.write(JSON.stringify({ id: typeof call.tool_use_id === 'string' ? call.tool_use_id : '', tool: call.tool_name, input: call.tool_input }) + '\\n');
});
`;

/** What the hook sends: validated, since anything running as this user could connect to the socket. */
const callSchema = z.object({ id: z.string().max(256), tool: z.string().min(1).max(256), input: z.unknown() });
const MAX_CALL_BYTES = 4 * 1024 * 1024;

export interface HookCall extends ToolRequest {
  /** Whether the hook still waits: one that has gone (killed, timed out) may have let its tool run. */
  readonly waiting: boolean;
  /** Answers the waiting hook; false when it no longer waits (and a second answer is ignored). */
  answer(decision: ToolDecision): boolean;
}

export interface ClaudeHooks {
  /** Arguments for Claude Code: the hook's settings, and no settings or MCP servers the agent could have written. */
  readonly args: string[];
  /** The hook's directory (script, settings, socket): a sandboxed agent gets it read-only. */
  readonly dir: string;
  /** Stops listening; a hook still waiting for its answer is refused (it exits 2, which blocks its tool). */
  close(): void;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const DIR_PREFIX = 'mc-hook-';
/** `mc-hook-<pid>-<start>-…`: the process whose calls the directory serves, so a sweep can tell when it is gone. */
const OWNED_DIR = /^mc-hook-(\d+)-([^-]+)-/;
const swept = new Set<string>();
/** Unix socket paths are limited to about 107 bytes: a parent longer than this takes the system's temp dir instead. */
const MAX_PARENT_CHARS = 50;

/** Once per process and parent: the directories left by calls of a process that is gone (a worker killed mid-call). */
function sweepStaleDirs(parent: string): void {
  if (swept.has(parent)) return;
  swept.add(parent);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return; // not made yet: nothing left in it
  }
  for (const name of names) {
    const owner = OWNED_DIR.exec(name);
    if (!owner || !goneHere(`${HOST}/${owner[1]}/${owner[2]}`)) continue;
    try {
      const path = join(parent, name);
      if (statSync(path).uid === process.getuid?.()) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone already, or not ours
    }
  }
}

/**
 * Sets up the hook for one Claude Code run: a private directory (0700, outside the agent's own) holding the
 * script, the settings file naming it, and the socket it calls. `onCall` gets each tool call before the tool runs.
 * `timeoutS` is Claude Code's limit for the hook, so it must outlast any owner's approval; the hook gives up (and
 * blocks its tool) a little before it.
 */
export async function openClaudeHooks(onCall: (call: HookCall) => void, timeoutS: number, under?: string): Promise<ClaudeHooks> {
  // Under the data dir when given (`run/hooks`): a sandbox hides it from every agent but the one it serves, which
  // gets it read-only. In the shared temp dir another agent running as this user could rewrite the script.
  const parent = under && under.length <= MAX_PARENT_CHARS ? under : tmpdir();
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  sweepStaleDirs(parent);
  const dir = mkdtempSync(join(parent, `${DIR_PREFIX}${process.pid}-${PROCESS_START}-`));
  try {
    return await listen(dir, onCall, timeoutS);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function listen(dir: string, onCall: (call: HookCall) => void, timeoutS: number): Promise<ClaudeHooks> {
  chmodSync(dir, 0o700);
  const [script, settings, socketPath] = [join(dir, 'hook.cjs'), join(dir, 'settings.json'), join(dir, 'hook.sock')];
  writeFileSync(script, HOOK_SCRIPT, { mode: 0o600 });
  const deadlineMs = Math.max(1, timeoutS - 30) * 1000;
  // `|| exit 2`: should Node itself fail (the script gone with its directory), the tool is still blocked.
  const command = `${[process.execPath, script, socketPath, String(deadlineMs)].map(shellQuote).join(' ')} || exit 2`;
  const hook = { type: 'command', command, timeout: timeoutS };
  writeFileSync(settings, JSON.stringify({ hooks: { PreToolUse: [{ matcher: '*', hooks: [hook] }] } }), { mode: 0o600 });

  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let answered = false;
    const waiting = () => !answered && !socket.destroyed && socket.readyState === 'open';
    const answer = (d: ToolDecision) => {
      if (!waiting()) return false;
      answered = true;
      socket.end(`${JSON.stringify({ allow: d.allow === true, ...(d.reason ? { reason: d.reason } : {}) })}\n`);
      return true;
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (answered) return;
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) {
        if (buffer.length > MAX_CALL_BYTES) answer({ allow: false, reason: 'the tool call is too large' });
        return;
      }
      let parsed: z.infer<typeof callSchema>;
      try {
        parsed = callSchema.parse(JSON.parse(buffer.slice(0, nl)));
      } catch {
        return answer({ allow: false, reason: 'the tool call could not be read' });
      }
      onCall({
        id: parsed.id,
        tool: parsed.tool,
        input: parsed.input,
        get waiting() {
          return waiting();
        },
        answer,
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    // HOME and the project are the session directory: settings, hooks, helper commands and MCP servers found there
    // are the agent's own writing (a Write tool can make them), and would run commands no tool request shows.
    // Only the settings given here load (with the machine's managed ones), and MCP servers only from --mcp-config.
    args: ['--settings', settings, '--setting-sources', '', '--strict-mcp-config'],
    dir,
    close() {
      server.close();
      for (const socket of open) socket.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where an administrator's managed settings for Claude Code live on Linux; they outrank the gateway's. */
export const MANAGED_SETTINGS = '/etc/claude-code/managed-settings.json';

/**
 * Why the machine's managed settings keep the gateway's hook from running (`disableAllHooks`, or hooks from
 * managed settings only), else undefined. Claude Code then runs tools before asking, and only their reports are
 * judged: `doctor` says so.
 */
export function managedHooksOff(path = MANAGED_SETTINGS): string | undefined {
  let settings: { disableAllHooks?: unknown; allowManagedHooksOnly?: unknown };
  try {
    settings = JSON.parse(readFileSync(path, 'utf8')) as typeof settings;
  } catch {
    return undefined;
  }
  if (settings.disableAllHooks === true) return `${path} sets disableAllHooks`;
  if (settings.allowManagedHooksOnly === true) return `${path} sets allowManagedHooksOnly`;
  return undefined;
}
