import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  BackendRequestError,
  BackendUnavailableError,
  ToolDeniedError,
  type Backend,
  type BackendCheck,
  type BackendChunk,
  type BackendRequest,
  type Pricing,
  type ToolDecision,
} from '../backend.js';
import type { BackendConfig } from '../config.js';
import { lineParser, renderInput } from './agent-cli-formats.js';
import { spawnKept } from './agent-keeper.js';
import { managedHooksOff, openClaudeHooks, type ClaudeHooks, type HookCall } from './claude-hooks.js';
import { executable } from './executable.js';
import { Inbox } from './inbox.js';
import { sandboxFor, type Launch, type SandboxDirs, type SandboxState } from './sandbox.js';
import { CallGuard, fitToBudget } from './shared.js';

export type CliBackendConfig = Extract<BackendConfig, { type: 'cli' }>;

const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;
const EXIT_GRACE_MS = 2_000;
/** Claude Code's limit for its tool hook: past the longest approval an owner may take (`approvalTimeoutMs`). */
const HOOK_TIMEOUT_S = 3_600 + 120;

/**
 * `<data-dir>/workspaces/<workspace>/sessions/<session-id>/` (DESIGN "Sessions and working directories"), or undefined
 * when the workspace id would not make a safe path segment: an agent then refuses to run rather than run elsewhere.
 */
export function sessionWorkdir(dataDir: string, workspaceId: string, sessionId: number | string): string | undefined {
  const id = String(sessionId);
  if (!isAbsolute(dataDir) || !SAFE_SEGMENT.test(workspaceId) || !SAFE_SEGMENT.test(id)) return undefined;
  return join(dataDir, 'workspaces', workspaceId, 'sessions', id);
}

/**
 * The directories of a sandboxed call, as they really are: bubblewrap mounts on real paths, and a data dir reached
 * through a link (or whose `workspaces` is a link to another disk) must be hidden where it really lies.
 */
function sandboxDirs(dataDir: string, workdir: string, hookDir: string | undefined, launch: Launch): SandboxDirs {
  const root = realpathSync(dataDir);
  const workspaces = realpathSync(join(dataDir, 'workspaces'));
  const hide = workspaces.startsWith(`${root}/`) ? [root] : [root, workspaces];
  // The program and the files its configured arguments name, where the config put them inside the data dir (a
  // script kept beside the data): the operator chose them, so they are put back, read-only.
  const hidden = (path: string) => hide.some((h) => path.startsWith(`${h}/`));
  const named = [launch.command, ...launch.args].filter((a) => isAbsolute(a) && existsSync(a)).map((a) => realpathSync(a)).filter(hidden);
  return { hide, workdir: realpathSync(workdir), readOnly: [...(hookDir ? [realpathSync(hookDir)] : []), ...new Set(named)] };
}

/** Creates the session directory (0700) and makes sure it is a real directory, not a link to somewhere else. */
function prepareWorkdir(workdir: string | undefined, name: string): string {
  if (!workdir || !isAbsolute(workdir)) {
    throw new BackendRequestError(`backend ${name}: no session working directory (the worker must be given the data directory)`);
  }
  mkdirSync(workdir, { recursive: true, mode: 0o700 });
  if (!lstatSync(workdir).isDirectory()) throw new BackendRequestError(`backend ${name}: the session working directory is not a directory`);
  chmodSync(workdir, 0o700);
  return workdir;
}

/** Signals the whole process group: an agent's own children (shells, tools) go with it. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * An agentic CLI (Claude Code, Codex, or any command speaking the jsonl protocol in agent-cli-formats.ts), spawned
 * per call without a shell, in the session's own directory, with an environment of PATH, HOME=<that directory> and
 * the configured keys only. Command, arguments and directory come from the config and the session alone; the
 * conversation travels on stdin, never in argv. The per-call timeout kills the whole process group. Tools are
 * governed before they run where the agent asks (jsonl on stdin, Claude Code through its hook), else when reported.
 */
export class AgentCliBackend implements Backend {
  readonly format = 'markdown' as const;
  readonly model?: string;
  readonly pricing?: Pricing;
  private sandboxState?: SandboxState;

  constructor(
    readonly name: string,
    private readonly config: CliBackendConfig,
    /** The configured `env` with each reference already resolved. */
    private readonly env: Record<string, string>,
  ) {
    if (config.model) this.model = config.model;
    if (config.pricing) this.pricing = config.pricing;
  }

  /** Found on first use, not at construction: the probe starts a process. */
  private get sandbox(): SandboxState {
    return (this.sandboxState ??= sandboxFor(this.config.sandbox));
  }

  async *stream(request: BackendRequest): AsyncGenerator<BackendChunk, void, ToolDecision | undefined> {
    const cfg = this.config;
    const cwd = prepareWorkdir(request.workdir, this.name);
    const dataDir = this.sandboxedIn(request, cwd);
    // What the agent prints, line by line, and (Claude Code) its hook's calls, each before its tool runs.
    const inbox = new Inbox<{ line: string } | { call: HookCall }>();
    const hooks: ClaudeHooks | undefined =
      cfg.flavor === 'claude-code' ? await openClaudeHooks((call) => inbox.push({ call }), HOOK_TIMEOUT_S, dataDir && join(dataDir, 'run', 'hooks')) : undefined;
    try {
      let launch = { command: cfg.command, args: [...cfg.args, ...(hooks?.args ?? [])] };
      const sandbox = this.sandbox;
      if (dataDir && sandbox.kind === 'bwrap') launch = sandbox.wrap(launch, sandboxDirs(dataDir, cwd, hooks?.dir, { command: cfg.command, args: cfg.args }));
      yield* this.run(request, cwd, launch, inbox, hooks);
    } finally {
      hooks?.close();
    }
  }

  /**
   * The data dir to hide from the agent, when it runs sandboxed; undefined when it runs as it is. Refusals come here,
   * before anything is started: `sandbox: bwrap` without bubblewrap, a call without its data dir, a missing command
   * (which bwrap would start and then fail to run, an exit like any other).
   */
  private sandboxedIn(request: BackendRequest, cwd: string): string | undefined {
    const cfg = this.config;
    const sandbox = this.sandbox;
    if (sandbox.kind === 'none') {
      if (cfg.sandbox === 'bwrap') throw new BackendUnavailableError(`backend ${this.name}: sandbox: bwrap, but ${sandbox.why}`, { kind: 'spawn' });
      return undefined;
    }
    if (!request.dataDir || !cwd.startsWith(`${request.dataDir}/`)) throw new BackendRequestError(`backend ${this.name}: no data directory to hide from the agent`);
    if (!executable(cfg.command)) throw new BackendUnavailableError(`backend ${this.name}: could not start ${cfg.command}`, { kind: 'spawn' });
    return request.dataDir;
  }

  private async *run(
    request: BackendRequest,
    cwd: string,
    launch: Launch,
    inbox: Inbox<{ line: string } | { call: HookCall }>,
    hooks: ClaudeHooks | undefined,
  ): AsyncGenerator<BackendChunk, void, ToolDecision | undefined> {
    const cfg = this.config;
    const guard = new CallGuard(request.signal, `backend ${this.name}`, cfg.timeoutMs, cfg.idleTimeoutMs);
    // Its own process group, led by a keeper (agent-keeper.ts): a timeout kills everything it started, and so does
    // the worker's own death.
    const child = spawnKept(launch.command, launch.args, {
      cwd,
      // HOME last: it is the session's directory whatever the config says, as the tool governor assumes.
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...this.env, HOME: cwd },
      shell: false,
      windowsHide: true,
    });
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    child.on('message', (m: unknown) => {
      const code = (m as { spawnError?: unknown } | null)?.spawnError;
      if (typeof code === 'string') spawnError = new Error(code);
    });
    const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const onAbort = () => killGroup(child);
    guard.signal.addEventListener('abort', onAbort, { once: true });
    child.stdin!.on('error', () => undefined); // EPIPE when the process exits before reading
    child.stderr!.resume(); // drained, never stored: it can echo the prompt
    let outputBytes = 0;
    child.stdout!.on('data', (b: Buffer) => {
      outputBytes += b.length;
      if (outputBytes > MAX_OUTPUT_BYTES) guard.abort(new BackendUnavailableError(`backend ${this.name}: output over ${MAX_OUTPUT_BYTES} bytes`, { kind: 'malformed' }));
    });

    const messages = fitToBudget(request.messages, cfg.contextTokens);
    child.stdin!.write(renderInput(cfg.flavor, messages, request.model ?? cfg.model));
    if (cfg.flavor !== 'jsonl') child.stdin!.end();

    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => inbox.push({ line }));
    lines.on('close', () => inbox.end());
    const parse = lineParser(cfg.flavor);
    /** Tool calls a hook put to us and heard the answer to: their report in the output is not judged again. */
    const asked = new Set<string>();
    // By id and tool (or, from a hook that gives no id, tool and input), so no other call can stand in for one.
    const keys = (t: { id: string; tool: string; input: unknown }) => [`id:${t.id}\u0000${t.tool}`, `call:${t.tool}\u0000${JSON.stringify(t.input)}`];
    let complete = false;
    try {
      read: for await (const item of guard.iterate(inbox)) {
        if ('call' in item) {
          const { call } = item;
          // A hook gone before its answer (Claude Code gave up on it) may have let its tool run: that tool is judged
          // when reported, as one no hook asked about.
          if (!call.waiting) continue;
          guard.pause();
          const decision = yield { type: 'tool_request', id: call.id, tool: call.tool, input: call.input };
          guard.touch();
          // Denied, the tool does not run; Claude Code is told why and goes on without it.
          if (call.answer(decision ?? { allow: false })) asked.add(keys(call)[call.id ? 0 : 1]!);
          continue;
        }
        for (const event of parse(item.line)) {
          if (event.type === 'done') {
            complete = true;
            break read;
          }
          if (event.type === 'error') {
            if (event.retryable) throw new BackendUnavailableError(`backend ${this.name}: ${event.message}`, { kind: 'stream_error' });
            throw new BackendRequestError(`backend ${this.name}: ${event.message}`);
          }
          if (event.type !== 'tool_request') {
            yield event;
            continue;
          }
          if (event.started && keys(event).some((k) => asked.has(k))) continue;
          guard.pause();
          const decision = yield event;
          guard.touch();
          const allow = decision?.allow === true;
          if (cfg.flavor === 'jsonl') {
            const answer = { type: 'tool_result', id: event.id, allow, ...(decision?.reason ? { reason: decision.reason } : {}) };
            child.stdin!.write(`${JSON.stringify(answer)}\n`);
          } else if (!allow) {
            // The tool started before we heard of it (Codex; a Claude Code that skipped its hook): stop the run.
            killGroup(child);
            throw new ToolDeniedError(event.tool);
          }
        }
      }
      if (!complete) {
        const code = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), EXIT_GRACE_MS).unref())]);
        if (guard.signal.aborted) throw guard.signal.reason;
        if (spawnError) throw new BackendUnavailableError(`backend ${this.name}: could not start ${cfg.command}`, { kind: 'spawn', cause: spawnError });
        if (code !== 0) throw new BackendUnavailableError(`backend ${this.name}: exited with code ${code ?? 'unknown'}`, { kind: 'exit' });
        throw new BackendUnavailableError(`backend ${this.name}: output ended without a final result`, { kind: 'stream_error' });
      }
    } catch (error) {
      if (guard.signal.aborted && guard.signal.reason instanceof Error) throw guard.signal.reason;
      throw error;
    } finally {
      guard.signal.removeEventListener('abort', onAbort);
      guard.dispose();
      child.stdin!.end();
      if (complete) await Promise.race([closed, new Promise((r) => setTimeout(r, EXIT_GRACE_MS).unref())]);
      killGroup(child); // nothing it started outlives the call
    }
  }

  async check(): Promise<BackendCheck> {
    if (!executable(this.config.command)) throw new BackendRequestError(`backend ${this.name}: ${this.config.command} is missing or not executable`);
    const hooksOff = this.config.flavor === 'claude-code' ? managedHooksOff() : undefined;
    if (hooksOff) throw new BackendRequestError(`backend ${this.name}: ${hooksOff}, so Claude Code would run tools before the gateway judges them`);
    const sandbox = this.sandbox;
    const found = `${this.config.command} is executable`;
    if (sandbox.kind === 'bwrap') return `${found}; sandboxed by bubblewrap (the data dir is hidden but for the session's own directory)`;
    if (this.config.sandbox === 'bwrap') throw new BackendRequestError(`backend ${this.name}: sandbox: bwrap, but ${sandbox.why}`);
    if (this.config.sandbox === 'none') return `${found}; not sandboxed (sandbox: none)`;
    return { warn: true, detail: `${found}; NOT sandboxed: ${sandbox.why}, so the agent can read the data dir (vault, master key, other sessions' files). Install bubblewrap, or set sandbox: none to accept this` };
  }
}
