import type { ConnectorDeps } from '../../core/connector.js';
import type { SignalLink, Timing } from './link.js';

/** What the connector remembers between runs (connector state `health`), so `doctor` can speak without probing. */
export interface HealthState {
  selfUuid?: string;
  /** The number `selfUuid` belongs to. */
  selfAccount?: string;
  lastAliveAt?: number;
  lastNotificationAt?: number;
  lastMessageAt?: number;
  reconnects?: number;
  lastLoss?: { at: number; reason: string };
  /** The last failed reconnect, in plain words: why the daemon cannot be reached now. */
  lastError?: { at: number; error: string };
  /** When the connector last stopped cleanly (cleared when it starts). */
  stoppedAt?: number;
  ignored?: Record<string, number>;
  otherAccount?: string;
}

type Deps = Pick<ConnectorDeps, 'store' | 'name' | 'now'>;
const KEY = 'health';

/** Health facts, kept in memory and written to the store at most every `everyMs` (a chatty group must not hammer SQLite). */
export class Health {
  state: HealthState = {};
  private savedAt = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: Deps,
    private readonly everyMs = 5_000,
  ) {}

  async load(): Promise<HealthState> {
    const stored = (await this.deps.store.getConnectorState(this.deps.name, KEY).catch(() => undefined)) as HealthState | undefined;
    this.state = stored && typeof stored === 'object' ? { ...stored } : {};
    return this.state;
  }

  update(patch: Partial<HealthState>, force = false): void {
    Object.assign(this.state, patch);
    if (!force && this.deps.now() - this.savedAt < this.everyMs) return;
    this.savedAt = this.deps.now();
    const snapshot = { ...this.state };
    this.pending = this.pending.then(() => this.deps.store.setConnectorState(this.deps.name, KEY, snapshot)).catch(() => undefined);
  }

  count(reason: string): void {
    const ignored = { ...this.state.ignored, [reason]: (this.state.ignored?.[reason] ?? 0) + 1 };
    this.update({ ignored });
  }

  async flush(): Promise<void> {
    this.update({}, true);
    await this.pending;
  }
}

const ago = (now: number, at: number | undefined): string => {
  if (!at) return 'never';
  const s = Math.max(0, Math.round((now - at) / 1000));
  const span = s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return `${new Date(at).toISOString()} (${span} ago)`;
};

export interface CheckInput {
  rpc: string;
  account: string;
  state: HealthState;
  link: SignalLink | undefined;
  timing: Timing;
  now: number;
  /** The daemon's answer to `version` just now, or why there was none (undefined: not probed). */
  probe: { ok: true; version: string } | { ok: false; error: string } | undefined;
  /** Not probed over TCP: whether something listens at the address (undefined: not known, e.g. not loopback). */
  listening?: boolean;
}

/** Plain-words verdicts for `doctor`: does the daemon answer, which account, is inbound alive and when did it last deliver. */
export function describeHealth(i: CheckInput): Array<{ ok: boolean; what: string; detail: string }> {
  const { state, now, link } = i;
  const out: Array<{ ok: boolean; what: string; detail: string }> = [];
  // Lost and not heard since: whatever the record says about earlier, the daemon is unreachable now.
  const down = !!state.lastLoss && state.lastLoss.at >= (state.lastAliveAt ?? 0);
  if (i.probe) {
    out.push(
      i.probe.ok
        ? { ok: true, what: 'signal daemon', detail: `signal-cli ${i.probe.version} answers at ${i.rpc}` }
        : { ok: false, what: 'signal daemon', detail: `no answer from signal-cli at ${i.rpc}: ${i.probe.error}` },
    );
  } else {
    // A TCP probe would subscribe to receiving under on-connection mode and swallow queued messages: use the record,
    // and the kernel's word on whether anything listens there.
    const notProbed = i.listening
      ? '(something listens there; not connected from here: a connection would take queued messages)'
      : '(not probed from here: a TCP probe would take queued messages)';
    const fresh = !!state.lastAliveAt && now - state.lastAliveAt < 3 * i.timing.pingIntervalMs;
    if (i.listening === false && !down) {
      out.push({ ok: false, what: 'signal daemon', detail: `nothing listens at ${i.rpc}: start signal-cli daemon (README, Signal) (checked without connecting: a connection would take queued messages)` });
    } else if (i.listening && !fresh && !(state.stoppedAt && state.lastAliveAt)) {
      const heard = state.lastAliveAt ? `no connector has heard it answer since ${ago(now, state.lastAliveAt)}` : 'no connector has heard it answer yet';
      const record = down ? `the connector lost it ${ago(now, state.lastLoss!.at)} (${state.lastLoss!.reason})` : heard;
      out.push({ ok: true, what: 'signal daemon', detail: `something listens at ${i.rpc} ${notProbed}; ${record}` });
    } else if (down) {
      const why = state.lastError ? `cannot reach it: ${state.lastError.error} (${ago(now, state.lastError.at)})` : 'reconnecting';
      out.push({ ok: false, what: 'signal daemon', detail: `the connector lost signal-cli at ${i.rpc} ${ago(now, state.lastLoss!.at)} (${state.lastLoss!.reason}) and ${why}` });
    } else if (state.stoppedAt && state.lastAliveAt) {
      // Stopped cleanly with the daemon answering: nothing is known to be wrong, it just is not running now.
      out.push({ ok: true, what: 'signal daemon', detail: `the connector is not running (stopped ${ago(now, state.stoppedAt)}); signal-cli at ${i.rpc} last answered it ${ago(now, state.lastAliveAt)} ${notProbed}` });
    } else {
      out.push({
        ok: fresh,
        what: 'signal daemon',
        detail: fresh
          ? `the running connector last heard signal-cli at ${i.rpc} answer ${ago(now, state.lastAliveAt)}`
          : `no running connector has heard signal-cli at ${i.rpc} answer since ${ago(now, state.lastAliveAt)} ${notProbed}`,
      });
    }
  }
  out.push(
    state.otherAccount
      ? { ok: false, what: 'signal account', detail: `the daemon delivers for ${state.otherAccount}, not the configured ${i.account}` }
      : { ok: true, what: 'signal account', detail: `${i.account}${state.selfUuid && state.selfAccount === i.account ? ` (uuid ${state.selfUuid})` : ' (own uuid not learned yet: mentions are matched by number)'}` },
  );
  const ignored = Object.entries(state.ignored ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
  const facts = [
    `last notification ${ago(now, link?.lastNotificationAt || state.lastNotificationAt)}`,
    `last message ${ago(now, state.lastMessageAt)}`,
    `${state.reconnects ?? 0} reconnects${state.lastLoss ? ` (last: ${state.lastLoss.reason}, ${ago(now, state.lastLoss.at)})` : ''}`,
    ...(ignored ? [`ignored: ${ignored}`] : []),
  ].join('; ');
  if (link) {
    out.push({
      ok: link.connected,
      what: 'signal inbound',
      detail: link.connected ? `connected since ${ago(now, link.connectedAt)}; ${facts}` : `disconnected, reconnecting; ${facts}`,
    });
  } else out.push({ ok: !down, what: 'signal inbound', detail: facts });
  return out;
}
