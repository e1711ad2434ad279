import { decideAccess, overridesFor, PAIRING_LIMITS, pairingMessage, standingOwners, type AccessStore } from '../core/access.js';
import type { Config } from '../core/config.js';
import { oneLineName, senderIdentity } from '../core/event.js';
import { ownerAddresses } from '../core/owners.js';
import { audit, halt, NO_OPTIONS, type Context, type NoOptions, type Plug } from '../core/plug.js';

/** Tells each owner on the requester's platform, in their own DM, that a pairing request is waiting. */
function notifyOwners(ctx: Context, owners: string[], code: string): void {
  const { event } = ctx;
  const who = event.sender.name ? `${oneLineName(event.sender.name)} (${senderIdentity(event)})` : senderIdentity(event);
  for (const address of ownerAddresses(owners, event, { samePlatformOnly: true })) {
    ctx.private.notify.push({ address, text: `Pairing request from ${who}, code ${code}. Approve with: monkeyclaw pair approve ${code}` });
  }
}

interface State {
  access: Config['access'];
  store?: AccessStore;
  now: () => number;
}

export const accessPlug: Plug<State, NoOptions> = {
  name: 'access',
  options: NO_OPTIONS,
  skipsDrafts: true,
  stages: ['inbound'],
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
      { platform: event.platform, account: event.account, senderId: event.sender.id, aliases: event.sender.aliases, name: event.sender.name ?? '', now: now() },
      PAIRING_LIMITS,
    );
    if (outcome.kind === 'suppressed') return halt(ctx, 'access', `pairing-suppressed:${outcome.reason}`);
    audit(ctx, { kind: 'pairing.requested', actor: senderIdentity(event), subject: outcome.request.code, data: { expiresAt: new Date(outcome.request.expiresAt).toISOString() } });
    notifyOwners(ctx, await standingOwners(access, store), outcome.request.code);
    return halt(ctx, 'access', 'pairing-code-sent', pairingMessage(outcome.request.code));
  },
};
