import type { Config } from '../core/config.js';
import { conversationScopes, type ChannelEvent } from '../core/event.js';
import { halt, NO_OPTIONS, type NoOptions, type Plug } from '../core/plug.js';

/** A DM is always addressed; a group message when it mentions or replies to the assistant, unless the channel says otherwise. */
export function isAddressed(channels: Config['channels'], event: ChannelEvent): boolean {
  if (event.conversation.kind === 'dm') return true;
  const setting = conversationScopes(event).map((c) => channels[c]?.requireMention).find((v) => v !== undefined);
  const requireMention = setting ?? true;
  return !requireMention || event.mentionsBot || event.replyTo?.toBot === true;
}

/**
 * In groups and channels the assistant speaks only when addressed: mentioned through the platform's mention
 * entity, or replied to. `channels["platform:id"].requireMention: false` lifts that for one conversation.
 */
export const groupGatePlug: Plug<Config['channels'], NoOptions> = {
  name: 'group-gate',
  stages: ['inbound'],
  options: NO_OPTIONS,
  init: (_options, services) => services.config.channels,
  call: (ctx, channels) => (isAddressed(channels, ctx.event) ? ctx : halt(ctx, 'group-gate', 'not-addressed')),
};
