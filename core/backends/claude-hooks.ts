import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { ToolDecision, ToolRequest } from '../backend.js';

/**
 * Claude Code's PreToolUse hook, run by Claude Code (through a shell) before every tool: it hands the tool call to
 * the gateway over a Unix socket and prints the answer as Claude Code's hook output. It fails closed: anything
 * that goes wrong exits 2, which blocks the tool (any other failing exit code would let the tool run).
 */
const HOOK_SCRIPT = `'use strict';
const net = require('node:net');
const fail = (why) => { try { process.stderr.write('MonkeyClaw blocked this tool: ' + why + '\\n'); } finally { process.exit(2); } };
process.on('uncaughtException', (e) => fail(String(e && e.message)));
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
  /** Answers the waiting hook; a second answer is ignored. */
  answer(decision: ToolDecision): void;
}

export interface ClaudeHooks {
  /** Arguments that make Claude Code run the hook: `--settings <file>`. */
  readonly args: string[];
  /** Stops listening; a hook still waiting for its answer is refused (it exits 2, which blocks its tool). */
  close(): void;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Sets up the hook for one Claude Code run: a private directory (0700, outside the agent's own) holding the
 * script, the settings file naming it, and the socket it calls. `onCall` gets each tool call before the tool runs.
 * `timeoutS` is Claude Code's limit for the hook, so it must outlast any owner's approval.
 */
export async function openClaudeHooks(onCall: (call: HookCall) => void, timeoutS: number): Promise<ClaudeHooks> {
  const dir = mkdtempSync(join(tmpdir(), 'mc-hook-'));
  chmodSync(dir, 0o700);
  const [script, settings, socketPath] = [join(dir, 'hook.cjs'), join(dir, 'settings.json'), join(dir, 'hook.sock')];
  writeFileSync(script, HOOK_SCRIPT, { mode: 0o600 });
  // `|| exit 2`: should Node itself fail (the script gone with its directory), the tool is still blocked.
  const command = `${shellQuote(process.execPath)} ${shellQuote(script)} ${shellQuote(socketPath)} || exit 2`;
  const hook = { type: 'command', command, timeout: timeoutS };
  // The agent can write settings of its own (its HOME and project are the session directory), and those rank below
  // these: it cannot switch the hooks off.
  const content = { disableAllHooks: false, hooks: { PreToolUse: [{ matcher: '*', hooks: [hook] }] } };
  writeFileSync(settings, JSON.stringify(content), { mode: 0o600 });

  const open = new Set<Socket>();
  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let answered = false;
    const answer = (d: ToolDecision) => {
      if (answered) return;
      answered = true;
      socket.end(`${JSON.stringify({ allow: d.allow === true, ...(d.reason ? { reason: d.reason } : {}) })}\n`);
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
      onCall({ id: parsed.id, tool: parsed.tool, input: parsed.input, answer });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    args: ['--settings', settings],
    close() {
      server.close();
      for (const socket of open) socket.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
