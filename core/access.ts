import { randomInt } from 'node:crypto';

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
  setOverride(identity: string, action: OverrideAction, source: string): Promise<void>;
  /** Issues a code unless this sender had one within `windowMs` or `maxPending` are pending for the connector. */
  requestPairing(input: { platform: string; account: string; senderId: string; name: string; now: number }, limits: PairingLimits): Promise<PairingOutcome>;
  pendingPairings(now: number): Promise<PairingRequest[]>;
  /** Approves or denies a pending, unexpired request, and records the matching override, in one transaction. */
  decidePairing(code: string, decision: 'approved' | 'denied', now: number): Promise<DecideResult>;
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
