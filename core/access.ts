import { randomInt } from 'node:crypto';
import type { AuditInput } from './audit.js';
import type { Config } from './config.js';
import { conversationScopes, senderIdentities, type ChannelEvent } from './event.js';

/** A run-time access decision about one identity; the latest wins. `deny` is a silent block (from `pair deny`). */
export type OverrideAction = 'allow' | 'revoke' | 'deny';

export interface PairingRequest {
  code: string;
  identity: string;
  account: string;
  name: string;
  createdAt: number;
  expiresAt: number;
}

export type PairingOutcome =
  | { kind: 'issued'; request: PairingRequest }
  /** A code went to this sender within the hour, or the connector has too many pending: stay silent. */
  | { kind: 'suppressed'; reason: 'recent-code' | 'too-many-pending' };

export type DecideResult = { ok: true; identity: string } | { ok: false; reason: 'unknown' | 'expired' | 'decided' };

export interface AccessStore {
  /** The overrides for the given identities. */
  overrides(identities: string[]): Promise<Map<string, OverrideAction>>;
  allOverrides(): Promise<Array<{ identity: string; action: OverrideAction; source: string; updatedAt: string }>>;
  /** The change commits with its audit entries, or neither does. */
  setOverride(identity: string, action: OverrideAction, source: string, audit: AuditInput[]): Promise<void>;
  /** Issues a code unless this sender had one within `windowMs` or `maxPending` are pending for the connector. */
  requestPairing(
    input: { platform: string; account: string; senderId: string; aliases?: string[] | undefined; name: string; now: number },
    limits: PairingLimits,
  ): Promise<PairingOutcome>;
  pendingPairings(now: number): Promise<PairingRequest[]>;
  /**
   * Approves or denies a pending, unexpired request, and records the matching override and the audit entries made
   * for the identity it names, in one transaction.
   */
  decidePairing(code: string, decision: 'approved' | 'denied', now: number, audit: (identity: string) => AuditInput[]): Promise<DecideResult>;
}

export interface PairingLimits {
  ttlMs: number;
  maxPending: number;
}

export const PAIRING_LIMITS: PairingLimits = { ttlMs: 60 * 60 * 1000, maxPending: 3 };

/** No 0/O, 1/I/L: a code read aloud or copied by hand survives. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const PAIRING_CODE = /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$/;

export function newPairingCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

export const pairingMessage = (code: string): string =>
  `I don't know you yet. To talk to this assistant, ask its owner to approve your pairing code: ${code}\n` +
  `(The owner runs: monkeyclaw pair approve ${code}. The code is valid for one hour.)`;

/** Identities already authenticated by the gateway itself: the terminal, a dashboard login, an API key. */
const LOCALLY_AUTHENTICATED = new Set(['loopback', 'web', 'api']);

/**
 * The local surfaces (terminal chat, web chat, API) are also the ones where each message waits for its answer:
 * a refusal there must say so every time, where a chat platform's sender is told once per period.
 */
export const awaitsAnswer = (event: ChannelEvent): boolean => LOCALLY_AUTHENTICATED.has(event.platform);

/**
 * Why the allowlist cannot decide `identity`, in words, or undefined when it can: the gateway admits the identities
 * it authenticates itself, so an allow or revoke of one would be stored and change nothing.
 */
export function outsideAllowlist(identity: string): string | undefined {
  if (!LOCALLY_AUTHENTICATED.has(identity.slice(0, identity.indexOf(':')))) return undefined;
  const key = identity.startsWith('api:') ? ', or revoke its API key (monkeyclaw apikey revoke)' : '';
  return `${identity} is authenticated by the gateway itself, so the allowlist does not decide it: shut it out with access.deny in the config${key}`;
}

export type AccessDecision = { admitted: boolean; rule: string };
export type Overrides = ReadonlyMap<string, OverrideAction>;

const allowed = (access: Config['access'], overrides: Overrides, identity: string): boolean => {
  const o = overrides.get(identity);
  if (o) return o === 'allow';
  return access.allow.includes(identity);
};

/** Who an access decision looks at: where a message was said, and by whom. */
export type Asker = Pick<ChannelEvent, 'platform' | 'sender' | 'conversation'>;

/**
 * Who may talk to the assistant. Deny is the default; the config's deny list always wins, then a silent block
 * from `pair deny`; run-time allows and revokes win over the config's allow list; bots are never answered; a group
 * is answered only when allowed (or `groups: open`), and then admits its members. Only stable platform ids count.
 */

export function decideAccess(access: Config['access'], event: Asker, overrides: Overrides = new Map()): AccessDecision {
  // A person may be known by more than one id (a WhatsApp LID and its number): a rule under any of them holds.
  const senders = senderIdentities(event);
  const scopes = conversationScopes(event);
  if (event.sender.isBot) return { admitted: false, rule: 'bot' };
  if (senders.some((s) => access.deny.includes(s)) || scopes.some((c) => access.deny.includes(c))) return { admitted: false, rule: 'deny' };
  if (senders.some((s) => overrides.get(s) === 'deny') || scopes.some((c) => overrides.get(c) === 'deny')) return { admitted: false, rule: 'blocked' };
  if (event.conversation.kind === 'dm') {
    if (LOCALLY_AUTHENTICATED.has(event.platform)) return { admitted: true, rule: 'local' };
    // A revoke under any of the person's ids holds, whatever another id is allowed by.
    if (senders.some((s) => overrides.get(s) === 'revoke')) return { admitted: false, rule: 'revoked' };
    if (senders.some((s) => allowed(access, overrides, s))) return { admitted: true, rule: 'allow' };
    // The one who approves pairings needs no pairing of their own (nor to be listed twice).
    if (senders.some((s) => access.owners.includes(s))) return { admitted: true, rule: 'owner' };
    if (access.dm === 'open') return { admitted: true, rule: 'open' };
    return { admitted: false, rule: access.dm === 'pairing' ? 'unknown-sender' : 'not-allowlisted' };
  }
  // The innermost scope with an entry decides: a revoked channel stays revoked inside an allowed guild.
  const decided = scopes.find((c) => overrides.has(c) || access.allow.includes(c));
  if (decided && allowed(access, overrides, decided)) return { admitted: true, rule: 'allow-group' };
  if (!decided && access.groups === 'open') return { admitted: true, rule: 'open-group' };
  return { admitted: false, rule: 'group-not-allowlisted' };
}

/**
 * The owners that still stand: one denied in the config, blocked by `pair deny` or revoked by `access revoke` hears
 * nothing an owner hears (pairing codes, tool calls waiting), as their own messages go unanswered.
 */
export async function standingOwners(access: Config['access'], store: Pick<AccessStore, 'overrides'> | undefined): Promise<string[]> {
  const owners = access.owners.filter((o) => !access.deny.includes(o));
  if (!store || owners.length === 0) return owners;
  const overrides = await store.overrides(owners);
  return owners.filter((o) => overrides.get(o) !== 'revoke' && overrides.get(o) !== 'deny');
}

/**
 * Whether `access revoke` has something to take back: a run-time allow, else a config allow entry (DESIGN: revoking
 * an unlisted id exits 1). An owner listed only in `access.owners` is not on the allowlist: the config decides them.
 */
export const revocable = (access: Config['access'], id: string, current: OverrideAction | undefined): boolean =>
  current ? current === 'allow' : access.allow.includes(id);

/** One read per message and store, shared by the plugs that decide on it (rate-limit and access both ask). */
const readsPerMessage = new WeakMap<Asker, WeakMap<object, Promise<Overrides>>>();

/** The overrides a decision about `event` needs, read fresh per message: a change applies from the next one on. */
export function overridesFor(store: Pick<AccessStore, 'overrides'> | undefined, event: Asker): Promise<Overrides> {
  if (!store) return Promise.resolve(new Map());
  let reads = readsPerMessage.get(event);
  if (!reads) readsPerMessage.set(event, (reads = new WeakMap()));
  let read = reads.get(store);
  if (!read) reads.set(store, (read = store.overrides([...senderIdentities(event), ...conversationScopes(event)])));
  return read;
}

/**
 * Whether a connector may show "typing…" for an event: only when access admits the sender now, the config and the
 * run-time allows, revokes and blocks read as the access plug will read them. Someone the gateway drops silently
 * (denied, blocked, revoked, a stranger waiting for pairing) sees no sign of life; a failed read shows nothing.
 */
export const admittedNow = (access: Config['access'], store: Pick<AccessStore, 'overrides'>, event: Asker): Promise<boolean> =>
  overridesFor(store, event).then((o) => decideAccess(access, event, o).admitted, () => false);
