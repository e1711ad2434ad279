import { z } from 'zod';
import { configuredWorkspace } from '../core/assistant-choice.js';
import type { Config } from '../core/config.js';
import { conversationIdentity, senderIdentity, type ChannelEvent } from '../core/event.js';
import { halt, type Context, type Plug } from '../core/plug.js';
import type { AccessStore } from '../core/access.js';
import { takeInOrder, type LimiterStore } from '../core/rate-limiter.js';
import { awaitsAnswer, decideAccess, overridesFor, type Overrides } from '../core/access.js';
import { isAddressed } from './group-gate.js';

export const RATE_LIMIT_NOTICE = "You're sending messages too fast; please wait a moment.";
const MINUTE_MS = 60_000;

/** Messages per minute; each bucket holds a minute's worth, so that is also the burst. */
const optionsSchema = z
  .object({
    perSender: z.number().int().positive().default(20),
    perConversation: z.number().int().positive().default(60),
    perWorkspace: z.number().int().positive().default(300),
  })
  .strict();
export type RateLimitOptions = z.input<typeof optionsSchema>;

interface State {
  limits: z.infer<typeof optionsSchema>;
  limiter: LimiterStore;
  config: Config;
  now: () => number;
  access: AccessStore | undefined;
}

/**
 * Would the rest of the inbound pipeline answer this event? Only then may it hear a notice, and only then does it
 * draw on the conversation's and workspace's buckets: a busy group's chatter that does not address the assistant,
 * or a swarm of unknown senders, must not use up what the admitted users of a workspace share.
 */
const answerable = (config: Config, event: ChannelEvent, overrides: Overrides): boolean =>
  decideAccess(config.access, event, overrides).admitted && isAddressed(config.channels, event);

const workspaceOf = (ctx: Context, config: Config): string =>
  ctx.session?.workspaceId ?? configuredWorkspace(config, ctx.event) ?? 'default';

/**
 * Token buckets per sender, conversation and workspace, shared by all workers through the limiter store. It runs
 * first in the inbound pipeline, so a flood from one unknown sender neither triggers pairing codes nor costs
 * backend tokens. The per-sender bucket counts every event; only admitted senders are ever told they are limited,
 * and only once per limited period (each time on a surface that waits for an answer, like the API); everyone else
 * is dropped silently (the runner audits every halt).
 */
export const rateLimitPlug: Plug<State, z.infer<typeof optionsSchema>> = {
  name: 'rate-limit',
  skipsDrafts: true,
  options: optionsSchema,
  init(limits, services) {
    if (!services.limiter) {
      throw new Error('needs a shared limiter store (services.limiter: SqliteLimiter or RedisLimiter); none was provided');
    }
    return { limits, limiter: services.limiter, config: services.config, now: () => services.now(), access: services.access };
  },
  async call(ctx, { limits, limiter, config, now, access }) {
    const shared = answerable(config, ctx.event, await overridesFor(access, ctx.event));
    const buckets: Array<[scope: string, key: string, perMinute: number]> = [['sender', senderIdentity(ctx.event), limits.perSender]];
    if (shared) {
      buckets.push(['conversation', conversationIdentity(ctx.event), limits.perConversation]);
      buckets.push(['workspace', workspaceOf(ctx, config), limits.perWorkspace]);
    }
    const takes = await takeInOrder(
      limiter,
      buckets.map(([scope, key, perMinute]) => ({ key: `${scope}:${key}`, capacity: perMinute, refillPerMs: perMinute / MINUTE_MS })),
      now(),
    );
    const denied = takes.findIndex((t) => !t.allowed);
    if (denied < 0) return ctx;
    const taken = takes[denied]!;
    const tell = shared && (taken.firstDenial || awaitsAnswer(ctx.event));
    // A denied bucket holds less than one token and refills one in a minute / perMinute: by then a take succeeds.
    const retryAfterMs = Math.ceil(MINUTE_MS / buckets[denied]![2]);
    return halt(ctx, 'rate-limit', `${buckets[denied]![0]}-limit`, tell ? RATE_LIMIT_NOTICE : undefined, retryAfterMs);
  },
};
