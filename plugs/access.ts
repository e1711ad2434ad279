import type { Config } from '../core/config.js';
import { conversationIdentity, senderIdentity, type ChannelEvent } from '../core/event.js';
import { audit, halt, type Plug } from '../core/plug.js';

/** Identities already authenticated by the gateway itself: the terminal, a dashboard login, an API key. */
const LOCALLY_AUTHENTICATED = new Set(['loopback', 'web', 'api']);

export type AccessDecision = { admitted: true; rule: string } | { admitted: false; rule: string };

/**
 * Who may talk to the assistant. Deny is the default; `access.deny` always wins; bots are never answered; a group
 * is answered only when listed (or `groups: open`), and then admits its members. Only stable platform ids count.
 */
export function decideAccess(access: Config['access'], event: ChannelEvent): AccessDecision {
  const sender = senderIdentity(event);
  const conversation = conversationIdentity(event);
  if (event.sender.isBot) return { admitted: false, rule: 'bot' };
  if (access.deny.includes(sender) || access.deny.includes(conversation)) return { admitted: false, rule: 'deny' };
  if (event.conversation.kind === 'dm') {
    if (LOCALLY_AUTHENTICATED.has(event.platform)) return { admitted: true, rule: 'local' };
    if (access.allow.includes(sender)) return { admitted: true, rule: 'allow' };
    if (access.dm === 'open') return { admitted: true, rule: 'open' };
    return { admitted: false, rule: access.dm === 'pairing' ? 'unknown-sender' : 'not-allowlisted' };
  }
  if (access.allow.includes(conversation)) return { admitted: true, rule: 'allow-group' };
  if (access.groups === 'open') return { admitted: true, rule: 'open-group' };
  return { admitted: false, rule: 'group-not-allowlisted' };
}

export const accessPlug: Plug<Config['access']> = {
  name: 'access',
  init: (_options, services) => services.config.access,
  call(ctx, access) {
    const decision = decideAccess(access, ctx.event);
    if (!decision.admitted) return halt(ctx, 'access', decision.rule);
    return audit(ctx, { kind: 'access.admitted', actor: 'plug:access', subject: ctx.event.id, data: { rule: decision.rule } });
  },
};
