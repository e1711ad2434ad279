import { z } from 'zod';
import { configuredWorkspace } from '../core/assistant-choice.js';
import type { Config } from '../core/config.js';
import { conversationIdentity, senderIdentities, type ChannelEvent } from '../core/event.js';
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
 * Would access admit this (addressed) event? Only then may it hear a notice, and only then does it draw on the
 * conversation's and workspace's buckets: a swarm of unknown senders must not use up what the admitted users of a
 * workspace share.
 */
const admitted = (config: Config, event: ChannelEvent, overrides: Overrides): boolean => decideAccess(config.access, event, overrides).admitted;

/**
 * When the message counts: when it was sent, where its platform's server stamps it, so that a backlog read after
 * downtime is counted at the pace its senders sent it, not all at once. Never later than now: a bucket is refilled
 * by time that has passed, not by a clock ahead of ours.
 */
const countedAt = (event: ChannelEvent, now: number): number => Math.min(now, event.sentAt ? Date.parse(event.sentAt) : now);

const workspaceOf = (ctx: Context, config: Config): string =>
  ctx.session?.workspaceId ?? configuredWorkspace(config, ctx.event) ?? 'default';

/**
 * Token buckets per sender, conversation and workspace, shared by all workers through the limiter store. It runs
 * first in the inbound pipeline, so a flood from one unknown sender neither triggers pairing codes nor costs
 * backend tokens. The per-sender bucket counts every event that addresses the assistant (group chatter is never
 * answered and costs nothing); only admitted senders are told they are limited, and only once per limited period
 * (each time on a surface that waits for an answer, like the API); everyone else is dropped silently (the runner
 * audits every halt).
 */
export const rateLimitPlug: Plug<State, z.infer<typeof optionsSchema>> = {
  name: 'rate-limit',
  skipsDrafts: true,
  stages: ['inbound'],
  options: optionsSchema,
  init(limits, services) {
    if (!services.limiter) {
      throw new Error('needs a shared limiter store (services.limiter: SqliteLimiter or RedisLimiter); none was provided');
    }
    return { limits, limiter: services.limiter, config: services.config, now: () => services.now(), access: services.access };
  },
  async call(ctx, { limits, limiter, config, now, access }) {
    if (!isAddressed(config.channels, ctx.event)) return ctx;
    const shared = admitted(config, ctx.event, await overridesFor(access, ctx.event));
    // One bucket per person, however addressed: the first of their ids in sort order (a LID and its number share it).
    const person = senderIdentities(ctx.event).sort()[0]!;
    const buckets: Array<[scope: string, key: string, perMinute: number]> = [['sender', person, limits.perSender]];
    if (shared) {
      buckets.push(['conversation', conversationIdentity(ctx.event), limits.perConversation]);
      buckets.push(['workspace', workspaceOf(ctx, config), limits.perWorkspace]);
    }
    const takes = await takeInOrder(
      limiter,
      // A sender's bucket per limit: assistants with the same limit share one, and a stricter assistant's, emptied,
      // does not throttle the same sender on another (it would refill at the other's rate). A conversation's and a
      // workspace's are one whatever the limit: they cap what all of it costs.
      buckets.map(([scope, key, perMinute]) => ({ key: `${scope}:${key}${scope === 'sender' ? `@${perMinute}` : ''}`, capacity: perMinute, refillPerMs: perMinute / MINUTE_MS })),
      countedAt(ctx.event, now()),
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
