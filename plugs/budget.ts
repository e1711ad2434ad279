import { z } from 'zod';
import { configuredWorkspace } from '../core/assistant-choice.js';
import { halt, type Plug, type PlugServices } from '../core/plug.js';
import type { UsageTotals } from '../core/store.js';

const optionsSchema = z
  .object({
    dailyTokens: z.number().int().positive().optional(),
    monthlyTokens: z.number().int().positive().optional(),
    dailyUsd: z.number().positive().optional(),
    monthlyUsd: z.number().positive().optional(),
  })
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'set at least one of dailyTokens, monthlyTokens, dailyUsd, monthlyUsd' });

/** The budget is the workspace's, shared by every assistant and conversation in it: the notice does not blame one. */
export const BUDGET_NOTICE = (period: 'today' | 'this month') =>
  `The budget for ${period} is used up here (it is shared by this workspace); the assistant will answer again when the budget resets.`;

interface State {
  limits: z.infer<typeof optionsSchema>;
  usage: NonNullable<PlugServices['sessions']>;
  services: PlugServices;
}

/**
 * Spent up to the limit, give or take float rounding: five holds of an average of 0.19999999999999998 dollars must
 * reach a 1-dollar budget as five turns of 0.2 do.
 */
export const reaches = (amount: number, limit: number): boolean => amount >= limit * (1 - 1e-9);

/** A hold outlives any turn: past this, a turn whose worker crashed stops counting against the budget. */
const HOLD_MS = 60 * 60_000;

/**
 * Token and cost ceilings per workspace, per UTC day and month, from what backends reported. Over budget the
 * assistant says so instead of calling the backend. Turns running at once count too: each admitted turn holds the
 * workspace's average turn this month until it commits, so a burst of messages cannot all start under the ceiling
 * and all report past it. It reads the workspace from the session (request stage) or the channel (inbound stage):
 * where the dashboard put it, else where the config does for a conversation not seen yet.
 */
export const budgetPlug: Plug<State, z.infer<typeof optionsSchema>> = {
  name: 'budget',
  skipsDrafts: true,
  stages: ['inbound', 'request'],
  options: optionsSchema,
  init(limits, services) {
    if (!services.sessions) throw new Error('needs the usage store (services.sessions); none was provided');
    return { limits, usage: services.sessions, services };
  },
  async call(ctx, { limits, usage, services }) {
    // Before the session (inbound), the channel's workspace as it is now: a move in the dashboard wins over the config.
    const workspace = ctx.session?.workspaceId ?? (await usage.channelWorkspace(ctx.event)) ?? configuredWorkspace(services.config, ctx.event) ?? 'default';
    const now = services.now();
    const day = new Date(now).toISOString().slice(0, 10);
    const hold = { eventId: ctx.event.id, workspaceId: workspace, day, month: `${day.slice(0, 7)}-01`, expiresAt: new Date(now + HOLD_MS).toISOString() };
    const refusal = await usage.holdBudget(hold, ({ day, month, held }) => {
      const spent = (used: UsageTotals, tokens?: number, usd?: number) =>
        (tokens !== undefined && reaches(used.tokens + held.tokens, tokens)) || (usd !== undefined && reaches(used.costUsd + held.costUsd, usd));
      if (spent(day, limits.dailyTokens, limits.dailyUsd)) return 'daily-budget';
      if (spent(month, limits.monthlyTokens, limits.monthlyUsd)) return 'monthly-budget';
      return undefined;
    });
    if (refusal) return halt(ctx, 'budget', refusal, BUDGET_NOTICE(refusal === 'daily-budget' ? 'today' : 'this month'));
    return ctx;
  },
};
