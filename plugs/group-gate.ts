import type { Config } from '../core/config.js';
import { conversationIdentity } from '../core/event.js';
import { halt, type Plug } from '../core/plug.js';

/**
 * In groups and channels the assistant speaks only when addressed: mentioned through the platform's mention
 * entity, or replied to. `channels["platform:id"].requireMention: false` lifts that for one conversation.
 */
export const groupGatePlug: Plug<Config['channels']> = {
  name: 'group-gate',
  init: (_options, services) => services.config.channels,
  call(ctx, channels) {
    const { event } = ctx;
    if (event.conversation.kind === 'dm') return ctx;
    const requireMention = channels[conversationIdentity(event)]?.requireMention ?? true;
    const addressed = event.mentionsBot || event.replyTo?.toBot === true;
    return !requireMention || addressed ? ctx : halt(ctx, 'group-gate', 'not-addressed');
  },
};
