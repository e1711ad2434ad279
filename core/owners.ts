import type { Address, ChannelEvent } from './event.js';

/** Platforms where a person's DM conversation id is their user id, so an owner can be written to directly. */
const DM_BY_USER_ID = new Set(['telegram', 'slack', 'signal', 'whatsapp', 'email']);

/**
 * Where to write to each owner (`platform:id` in `access.owners`) in their own DM. On the event's own platform the
 * message goes out through the same connector account; elsewhere through that platform's connector.
 */
export function ownerAddresses(owners: string[], event: ChannelEvent, { samePlatformOnly = false } = {}): Address[] {
  const out: Address[] = [];
  for (const owner of owners) {
    const cut = owner.indexOf(':');
    const platform = owner.slice(0, cut);
    const id = owner.slice(cut + 1);
    if (!DM_BY_USER_ID.has(platform) || (samePlatformOnly && platform !== event.platform)) continue;
    out.push({ platform, account: platform === event.platform ? event.account : platform, conversation: { id, kind: 'dm' } });
  }
  return out;
}
