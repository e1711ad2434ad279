import { PAIRING_LIMITS, pairingMessage, type AccessStore, type OverrideAction } from '../core/access.js';
import type { Config } from '../core/config.js';
import { conversationScopes, senderIdentity, type ChannelEvent } from '../core/event.js';
import { ownerAddresses } from '../core/owners.js';
import { audit, halt, type Context, type Plug } from '../core/plug.js';

/** Identities already authenticated by the gateway itself: the terminal, a dashboard login, an API key. */
const LOCALLY_AUTHENTICATED = new Set(['loopback', 'web', 'api']);

/**
 * The local surfaces (terminal chat, web chat, API) are also the ones where each message waits for its answer:
 * a refusal there must say so every time, where a chat platform's sender is told once per period.
 */
export const awaitsAnswer = (event: ChannelEvent): boolean => LOCALLY_AUTHENTICATED.has(event.platform);

export type AccessDecision = { admitted: boolean; rule: string };
export type Overrides = ReadonlyMap<string, OverrideAction>;

const allowed = (access: Config['access'], overrides: Overrides, identity: string): boolean => {
  const o = overrides.get(identity);
  if (o) return o === 'allow';
  return access.allow.includes(identity);
};

/**
 * Who may talk to the assistant. Deny is the default; the config's deny list always wins, then a silent block
 * from `pair deny`; run-time allows and revokes win over the config's allow list; bots are never answered; a group
 * is answered only when allowed (or `groups: open`), and then admits its members. Only stable platform ids count.
 */
export function decideAccess(access: Config['access'], event: ChannelEvent, overrides: Overrides = new Map()): AccessDecision {
  const sender = senderIdentity(event);
  const scopes = conversationScopes(event);
  if (event.sender.isBot) return { admitted: false, rule: 'bot' };
  if (access.deny.includes(sender) || scopes.some((c) => access.deny.includes(c))) return { admitted: false, rule: 'deny' };
  if (overrides.get(sender) === 'deny' || scopes.some((c) => overrides.get(c) === 'deny')) return { admitted: false, rule: 'blocked' };
  if (event.conversation.kind === 'dm') {
    if (LOCALLY_AUTHENTICATED.has(event.platform)) return { admitted: true, rule: 'local' };
    if (allowed(access, overrides, sender)) return { admitted: true, rule: 'allow' };
    if (overrides.get(sender) === 'revoke') return { admitted: false, rule: 'revoked' };
    // The one who approves pairings needs no pairing of their own (nor to be listed twice).
    if (access.owners.includes(sender)) return { admitted: true, rule: 'owner' };
    if (access.dm === 'open') return { admitted: true, rule: 'open' };
    return { admitted: false, rule: access.dm === 'pairing' ? 'unknown-sender' : 'not-allowlisted' };
  }
  // The innermost scope with an entry decides: a revoked channel stays revoked inside an allowed guild.
  const decided = scopes.find((c) => overrides.has(c) || access.allow.includes(c));
  if (decided && allowed(access, overrides, decided)) return { admitted: true, rule: 'allow-group' };
  if (!decided && access.groups === 'open') return { admitted: true, rule: 'open-group' };
  return { admitted: false, rule: 'group-not-allowlisted' };
}

/** The overrides a decision about `event` needs, read fresh per message: a change applies from the next one on. */
export const overridesFor = (store: AccessStore | undefined, event: ChannelEvent): Promise<Overrides> =>
  store ? store.overrides([senderIdentity(event), ...conversationScopes(event)]) : Promise.resolve(new Map());

/** Tells each owner on the requester's platform, in their own DM, that a pairing request is waiting. */
function notifyOwners(ctx: Context, owners: string[], code: string): void {
  const { event } = ctx;
  const who = `${event.sender.name ? `${event.sender.name} ` : ''}(${senderIdentity(event)})`;
  for (const address of ownerAddresses(owners, event, { samePlatformOnly: true })) {
    ctx.private.notify.push({ address, text: `Pairing request from ${who}, code ${code}. Approve with: monkeyclaw pair approve ${code}` });
  }
}

interface State {
  access: Config['access'];
  store?: AccessStore;
  now: () => number;
}

export const accessPlug: Plug<State> = {
  name: 'access',
  skipsDrafts: true,
  init: (_options, services) => ({ access: services.config.access, now: services.now, ...(services.access ? { store: services.access } : {}) }),
  async call(ctx, { access, store, now }) {
    const { event } = ctx;
    const decision = decideAccess(access, event, await overridesFor(store, event));
    if (decision.admitted) {
      return audit(ctx, { kind: 'access.admitted', actor: 'plug:access', subject: event.id, data: { rule: decision.rule } });
    }
    // Pairing: only for an unknown person writing in a DM, never in a group, never in allowlist mode.
    if (decision.rule !== 'unknown-sender' || !store) return halt(ctx, 'access', decision.rule);
    const outcome = await store.requestPairing(
      { platform: event.platform, account: event.account, senderId: event.sender.id, name: event.sender.name ?? '', now: now() },
      PAIRING_LIMITS,
    );
    if (outcome.kind === 'suppressed') return halt(ctx, 'access', `pairing-suppressed:${outcome.reason}`);
    audit(ctx, { kind: 'pairing.requested', actor: senderIdentity(event), subject: outcome.request.code, data: { expiresAt: new Date(outcome.request.expiresAt).toISOString() } });
    notifyOwners(ctx, access.owners, outcome.request.code);
    return halt(ctx, 'access', 'pairing-code-sent', pairingMessage(outcome.request.code));
  },
};
