import { z } from 'zod';
import { configuredWorkspace } from '../core/assistant-choice.js';
import { halt, type Plug, type PlugServices } from '../core/plug.js';

const optionsSchema = z
  .object({
    dailyTokens: z.number().int().positive().optional(),
    monthlyTokens: z.number().int().positive().optional(),
    dailyUsd: z.number().positive().optional(),
    monthlyUsd: z.number().positive().optional(),
  })
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'set at least one of dailyTokens, monthlyTokens, dailyUsd, monthlyUsd' });

export const BUDGET_NOTICE = (period: 'today' | 'this month') =>
  `This assistant has used its budget for ${period}; it will answer again when the budget resets.`;

interface State {
  limits: z.infer<typeof optionsSchema>;
  usage: NonNullable<PlugServices['sessions']>;
  services: PlugServices;
}

/**
 * Token and cost ceilings per workspace, per UTC day and month, from what backends reported. Over budget the
 * assistant says so instead of calling the backend. It reads the workspace from the session (request stage) or
 * the channel (inbound stage): where the dashboard put it, else where the config does for a conversation not seen yet.
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
    const today = new Date(services.now()).toISOString().slice(0, 10);
    const day = await usage.usageSince(workspace, today);
    if ((limits.dailyTokens !== undefined && day.tokens >= limits.dailyTokens) || (limits.dailyUsd !== undefined && day.costUsd >= limits.dailyUsd)) {
      return halt(ctx, 'budget', 'daily-budget', BUDGET_NOTICE('today'));
    }
    const month = await usage.usageSince(workspace, `${today.slice(0, 7)}-01`);
    if ((limits.monthlyTokens !== undefined && month.tokens >= limits.monthlyTokens) || (limits.monthlyUsd !== undefined && month.costUsd >= limits.monthlyUsd)) {
      return halt(ctx, 'budget', 'monthly-budget', BUDGET_NOTICE('this month'));
    }
    return ctx;
  },
};
