import { z } from 'zod';
import type { AuditInput } from './audit.js';
import type { AssistantConfig, Config, LifecycleEvent, PipelineEntry } from './config.js';
import type { Address, ChannelEvent } from './event.js';
import type { BackendMessage } from './backend.js';
import type { AccessStore } from './access.js';
import type { ApprovalStore } from './approvals.js';
import type { LimiterStore } from './rate-limiter.js';
import type { Store } from './store.js';

/**
 * Elixir's Plug contract in TypeScript: `init(options)` runs once when the pipeline is built, `call(ctx, state)`
 * once per lifecycle event and returns the context. Halting is data (`ctx.halted`), not an exception.
 */
export interface Plug<State = unknown, Options = Record<string, unknown>> {
  readonly name: string;
  /** Plugs that count, charge or act (limits, budgets, pairing, commands) do so once per turn, not once per draft. */
  readonly skipsDrafts?: boolean;
  /**
   * The stages where it can do its job, when not every one: a command answered after the backend ran, or a sender
   * refused after the reply was written, would be a plug in the config that does not do what it says.
   */
  readonly stages?: readonly LifecycleEvent[];
  /**
   * The options `init` takes (`NO_OPTIONS` for none). Config load checks every pipeline entry against it, so a bad
   * option is a config error naming its field before any process starts; `init` gets them parsed, as typed.
   */
  readonly options: z.ZodType<Options>;
  init(options: Options, services: PlugServices): State;
  call(ctx: Context, state: State): Context | Promise<Context>;
}

/** What the runtime lends plugs: read-only config and the clock. Plugs that need storage get it here too. */
export interface PlugServices {
  config: Config;
  now(): number;
  /** Extra services registered by the process wiring (limiter store, access store, …), looked up by name. */
  extra: Record<string, unknown>;
  /** Token buckets shared by every worker (the rate-limit plug refuses to start without one). */
  limiter?: LimiterStore;
  /** Run-time access changes and pairing requests, shared by every worker. */
  access?: AccessStore;
  /** Backend usage per workspace (budgets) and session control (`/reset`). */
  sessions?: Pick<Store, 'holdBudget' | 'channelWorkspace' | 'closeSession' | 'history'>;
  /** Tool calls waiting for an owner (`/approve ID`). */
  approvals?: ApprovalStore;
}

export interface Halt {
  plug: string;
  reason: string;
  /** A message for the sender (rate limit, budget); absent means silence. */
  notice?: string;
  /** When trying again can succeed (a rate limit): what a surface that answers each request tells its caller. */
  retryAfterMs?: number;
}

export interface Context {
  readonly stage: LifecycleEvent;
  readonly event: ChannelEvent;
  readonly assistant: { name: string; config: AssistantConfig };
  readonly session?: { id: number; workspaceId: string; scope: string };
  /** The user's text as the backend will see it; inbound plugs may rewrite it (redaction). */
  text: string;
  /** The backend request (request stage on). */
  messages: BackendMessage[];
  /** The reply (response and outbound stages). */
  reply?: { text: string; format: 'plain' | 'markdown' };
  /** The reply is a draft of a streamed reply (the text so far): shaped like the reply, never counted or acted on. */
  readonly draft?: boolean;
  /** Data plugs hand each other. */
  assigns: Record<string, unknown>;
  halted: boolean;
  halt?: Halt;
  /** Runtime data: audit entries the plugs produced and messages for other conversations, committed with the turn. */
  readonly private: { audit: AuditInput[]; notify: Array<{ address: Address; text: string }> };
}

export function halt(ctx: Context, plug: string, reason: string, notice?: string, retryAfterMs?: number): Context {
  return { ...ctx, halted: true, halt: { plug, reason, ...(notice ? { notice } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) } };
}

export function assign(ctx: Context, key: string, value: unknown): Context {
  return { ...ctx, assigns: { ...ctx.assigns, [key]: value } };
}

/** Plugs record decisions worth keeping (allowed by which rule, what was masked) through this. */
export function audit(ctx: Context, entry: AuditInput): Context {
  ctx.private.audit.push(entry);
  return ctx;
}

/** A plug of any state type: each plug's init and call agree on its own state, which the registry need not know. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPlug = Plug<any, any>;

/** The schema of a plug that takes no options: any option given is a config error, never silently ignored. */
export const NO_OPTIONS = z.object({}).strict();
export type NoOptions = z.infer<typeof NO_OPTIONS>;

export class PlugConfigError extends Error {
  override readonly name = 'PlugConfigError';
}

export interface PipelineStep {
  plug: AnyPlug;
  state: unknown;
}
export type Pipelines = Record<LifecycleEvent, PipelineStep[]>;

/**
 * Resolves one pipeline entry against the registry and runs its plug's init. The error names the plug but not the
 * entry's place: the pipeline builder and the dashboard's form each say where it was.
 */
export function initStep(entry: PipelineEntry, registry: ReadonlyMap<string, AnyPlug>, services: PlugServices, stage?: LifecycleEvent): PipelineStep {
  const { plug, options } = plugOptions(entry, registry, stage);
  try {
    return { plug, state: plug.init(options, services) };
  } catch (error) {
    throw new PlugConfigError(`plug "${plug.name}": ${(error as Error).message}`);
  }
}

/**
 * Resolves one pipeline entry's plug and checks its options against the plug's schema, and its stage against the
 * plug's, without running `init`.
 */
export function plugOptions(entry: PipelineEntry, registry: ReadonlyMap<string, AnyPlug>, stage?: LifecycleEvent): { plug: AnyPlug; options: unknown } {
  const { plug: name, ...options } = typeof entry === 'string' ? { plug: entry } : entry;
  const plug = registry.get(name);
  if (!plug) throw new PlugConfigError(`unknown plug "${name}" (known: ${[...registry.keys()].join(', ')})`);
  if (stage && plug.stages && !plug.stages.includes(stage)) {
    throw new PlugConfigError(`plug "${name}" works in the ${plug.stages.join(' or ')} pipeline only, not ${stage}`);
  }
  const parsed = plug.options.safeParse(options);
  if (parsed.success) return { plug, options: parsed.data };
  const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'options'}: ${i.message}`);
  throw new PlugConfigError(`plug "${name}": ${problems.join('; ')}`);
}

/** Resolves names against the registry and runs each plug's init once; an unknown name is a configuration error. */
export function buildPipelines(
  assistantName: string,
  assistant: AssistantConfig,
  registry: ReadonlyMap<string, AnyPlug>,
  services: PlugServices,
): Pipelines {
  const build = (event: LifecycleEvent, entries: PipelineEntry[]): PipelineStep[] =>
    entries.map((entry, i) => {
      try {
        return initStep(entry, registry, services, event);
      } catch (error) {
        throw new PlugConfigError(`assistants.${assistantName}.pipelines.${event}.${i}: ${(error as Error).message}`);
      }
    });
  const p = assistant.pipelines;
  return { inbound: build('inbound', p.inbound), request: build('request', p.request), response: build('response', p.response), outbound: build('outbound', p.outbound) };
}

const isContext = (value: unknown): value is Context =>
  typeof value === 'object' && value !== null && 'halted' in value && 'assigns' in value && 'private' in value;

/**
 * Runs steps in order until one halts. A plug that throws, or returns something that is not a context, halts
 * this event only: it is audited and the worker carries on with the next event.
 */
export async function runPipeline(steps: PipelineStep[], start: Context): Promise<Context> {
  let ctx = start;
  for (const { plug, state } of steps) {
    if (ctx.halted) break;
    if (ctx.draft && plug.skipsDrafts) continue;
    try {
      const out = await plug.call(ctx, state);
      if (!isContext(out)) throw new Error(`plug "${plug.name}" returned ${out === undefined ? 'undefined' : typeof out}, not a context`);
      ctx = out;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      ctx = halt(ctx, plug.name, `plug raised: ${message.slice(0, 500)}`);
      ctx.private.audit.push({ kind: 'plug.error', actor: `plug:${plug.name}`, subject: ctx.event.id, data: { stage: ctx.stage, error: message.slice(0, 500) } });
      break;
    }
    if (ctx.halted && ctx.halt) {
      ctx.private.audit.push({
        kind: 'plug.halted',
        actor: `plug:${ctx.halt.plug}`,
        subject: ctx.event.id,
        data: { stage: ctx.stage, reason: ctx.halt.reason, notice: ctx.halt.notice !== undefined },
      });
    }
  }
  return ctx;
}
