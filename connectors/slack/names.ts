import type { WebClient } from '@slack/web-api';
import type { ConnectorLog } from '../../core/connector.js';
import { platformError } from './client.js';

const MAX_NAMES = 2_000;
const KEEP_MS = 60 * 60_000;
const LOOKUP_MS = 1_500;

/**
 * People's names, for a message that does not carry its sender's profile (Slack's `message.im` events often do not),
 * so `pair list` and the owner's notice say who asks. users.info (scope `users:read`), at most once an hour per
 * person, and briefly: the event waits for it before it is stored, and Slack wants its ack within 3 s. A failure
 * (no scope, a slow API) is remembered too, and the message goes on without a name.
 */
export function userNames(client: WebClient, log: ConnectorLog, now: () => number): (userId: string) => Promise<string | undefined> {
  const known = new Map<string, { name: string | undefined; at: number }>();
  let toldScope = false;
  return async (userId) => {
    const hit = known.get(userId);
    if (hit && now() - hit.at < KEEP_MS) return hit.name;
    let name: string | undefined;
    try {
      const answer = await Promise.race([
        client.users.info({ user: userId }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${LOOKUP_MS} ms`)), LOOKUP_MS).unref()),
      ]);
      const user = answer.user;
      name = user?.profile?.display_name || user?.profile?.real_name || user?.real_name || user?.name || undefined;
    } catch (error) {
      if (platformError(error) === 'missing_scope' && !toldScope) {
        toldScope = true;
        log.warn({}, 'slack: users.info needs the users:read scope; pairing requests show no names without it');
      } else log.debug({ error: (error as Error).message }, 'slack: users.info failed');
    }
    known.delete(userId);
    known.set(userId, { name: name?.slice(0, 200), at: now() });
    if (known.size > MAX_NAMES) known.delete(known.keys().next().value!);
    return name?.slice(0, 200);
  };
}
