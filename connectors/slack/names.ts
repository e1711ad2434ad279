import type { WebClient } from '@slack/web-api';
import type { ConnectorLog } from '../../core/connector.js';
import { platformError } from './client.js';

const MAX_NAMES = 2_000;
const KEEP_MS = 60 * 60_000;
/** A lookup that failed for a passing reason (a timeout, a 5xx) is tried again sooner than a name is. */
const RETRY_MS = 5 * 60_000;
const LOOKUP_MS = 1_500;

/**
 * People's names, for a message that does not carry its sender's profile (Slack's `message.im` events often do not),
 * so `pair list` and the owner's notice say who asks. users.info (scope `users:read`), at most once an hour per
 * person, and briefly: the event waits for it before it is stored, and Slack wants its ack within 3 s. Without the
 * scope no one is looked up for an hour; the message goes on without a name.
 */
export function userNames(client: WebClient, log: ConnectorLog, now: () => number): (userId: string) => Promise<string | undefined> {
  const known = new Map<string, { name: Promise<string | undefined>; until: number }>();
  let noScopeUntil = 0;

  async function lookup(userId: string): Promise<{ name: string | undefined; keepMs: number }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        client.users.info({ user: userId }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${LOOKUP_MS} ms`)), LOOKUP_MS))),
      ]);
      const user = answer.user;
      const name = user?.profile?.display_name || user?.profile?.real_name || user?.real_name || user?.name || undefined;
      return { name: name?.slice(0, 200), keepMs: KEEP_MS };
    } catch (error) {
      const code = platformError(error);
      if (code === 'missing_scope') {
        if (now() >= noScopeUntil) log.warn({}, 'slack: users.info needs the users:read scope; pairing requests show no names without it');
        noScopeUntil = now() + KEEP_MS;
      } else log.debug({ error: (error as Error).message }, 'slack: users.info failed');
      // A person Slack does not know (or a refusal) will not change soon; a timeout may.
      return { name: undefined, keepMs: code ? KEEP_MS : RETRY_MS };
    } finally {
      clearTimeout(timer);
    }
  }

  return (userId) => {
    if (now() < noScopeUntil) return Promise.resolve(undefined);
    const hit = known.get(userId);
    if (hit && now() < hit.until) return hit.name;
    // The promise is kept, not its result: messages from one person at once ask Slack once.
    const entry = { name: Promise.resolve<string | undefined>(undefined), until: now() + LOOKUP_MS };
    entry.name = lookup(userId).then(({ name, keepMs }) => ((entry.until = now() + keepMs), name));
    known.delete(userId);
    known.set(userId, entry);
    if (known.size > MAX_NAMES) known.delete(known.keys().next().value!);
    return entry.name;
  };
}
