import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../../core/config.js';
import { isLoopbackHost } from '../../core/config-urls.js';
import type { Connector, ConnectorDeps, ConnectorFactory, ConnectorIO } from '../../core/connector.js';
import { dedupeKey, InvalidPayloadError, type ChannelEventInput } from '../../core/event.js';
import { admittedNow } from '../../core/access.js';
import { partProgress } from '../../core/part-progress.js';
import { PlatformWaits } from '../../core/platform-waits.js';
import { silentTurn } from '../../core/typing.js';
import { describeHealth, Health } from './health.js';
import { DEFAULT_TIMING, SignalLink, type Timing } from './link.js';
import { loopbackListening } from './listening.js';
import { parseNotification, type Parsed, type ParseContext } from './parse.js';
import { postRpc } from './http.js';
import { plainNetError } from '../../core/net-errors.js';
import { endpointOf, SignalConnectionError, SignalRpcError, type Endpoint, type Notification } from './rpc.js';
import { createSend, signalTyping } from './send.js';

/** `connectors.signal` (core/config.ts). */
export interface SignalConfig {
  enabled: boolean;
  rpc?: string;
  account?: string;
  assistant?: string;
  maxMessageChars?: number;
  streamEdits?: boolean;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  silentAfterMs?: number;
}

export interface SignalOptions {
  /** Overrides for tests (short intervals); config keys win over defaults, these win over both. */
  timing?: Partial<Timing>;
  typingRefreshMs?: number;
  /** The longest -5 wait done inline, before the job is handed back to wait out the rest (send.ts). */
  maxRateLimitWaitMs?: number;
}

const PLATFORM = 'signal';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const create: ConnectorFactory<SignalConfig> = (deps) => createSignalConnector(deps);

/**
 * Signal through a running `signal-cli daemon --receive-mode=on-connection` (README): one long-lived JSON-RPC
 * connection, kept alive by link.ts. signal-cli has no acknowledgement — a notification is gone once written to the
 * socket — so each is published (durably enqueued) the moment it is read, strictly in arrival order.
 */
export function createSignalConnector(deps: ConnectorDeps<SignalConfig>, options: SignalOptions = {}): Connector {
  const cfg = deps.config;
  if (cfg.streamEdits) deps.log.warn({}, `connectors.${deps.name}.streamEdits: not supported; replies are sent once, finished`);
  const field = (name: string) => `connectors.${deps.name}.${name}`;
  const timing: Timing = {
    ...DEFAULT_TIMING,
    ...(cfg.pingIntervalMs ? { pingIntervalMs: cfg.pingIntervalMs } : {}),
    ...(cfg.pingTimeoutMs ? { pingTimeoutMs: cfg.pingTimeoutMs } : {}),
    ...(cfg.silentAfterMs ? { silentAfterMs: cfg.silentAfterMs } : {}),
    ...options.timing,
  };
  // The first calls may meet a daemon (a JVM) that is still warming up: they get more time than a ping.
  const startTimeoutMs = Math.max(timing.connectTimeoutMs, timing.pingTimeoutMs, 5_000);
  const actor = `connector:${deps.name}`;
  const audit = (kind: string, data: Record<string, unknown>) => deps.store.appendAudit([{ kind, actor, data }]);
  const health = new Health(deps);
  let link: SignalLink | undefined;
  let io: ConnectorIO | undefined;
  let selfUuid: string | undefined;
  let stopped = false;
  const halting = new AbortController();
  let singleAccount = false;
  // Reads are stored one after another, in order; what follows a store (audits, the access check, typing) runs on a
  // chain of its own, so no read waits on an earlier one's follow-ups to be stored: until it is, a crash loses it.
  let storing: Promise<void> = Promise.resolve();
  let settling: Promise<void> = Promise.resolve();
  const failed = (error: unknown) => deps.log.error({ error: (error as Error).message }, 'signal notification failed');
  const afterStores = (step: () => Promise<void>): void => {
    settling = settling.then(step).catch(failed);
  };
  /** Everything read so far stored and settled (bounded: SIGTERM must end within 10 s). */
  const finished = () => Promise.race([storing.then(() => settling), sleep(2_000, undefined, { ref: false })]);
  const call = (method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> =>
    link ? link.call(method, params, timeoutMs) : Promise.reject(new SignalConnectionError('signal connector not started'));
  const typing = signalTyping(call, silentTurn(deps.store), deps, options.typingRefreshMs);

  function settings(): { endpoint: Endpoint; account: string } {
    if (!cfg.rpc) throw new ConfigError(`${field('rpc')}: required, e.g. tcp://127.0.0.1:7583 (signal-cli daemon --tcp)`);
    if (!cfg.account || !/^\+[1-9]\d{6,14}$/.test(cfg.account)) {
      throw new ConfigError(`${field('account')}: required, the account's number in international form, e.g. "+15550000000"`);
    }
    let endpoint: Endpoint;
    try {
      endpoint = endpointOf(cfg.rpc);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
    return { endpoint, account: cfg.account };
  }

  const ctx = (account: string): ParseContext => ({
    platform: PLATFORM,
    account,
    get selfUuid() {
      return selfUuid;
    },
    assistant: cfg.assistant,
    answersUnmentioned: (groupId) => deps.gateway.channels[`${PLATFORM}:${groupId}`]?.requireMention === false,
    now: deps.now,
  });

  function learnSelf(uuid: string): void {
    if (selfUuid || !UUID.test(uuid)) return;
    selfUuid = uuid;
    health.update({ selfUuid: uuid, selfAccount: cfg.account }, true);
  }

  /** Publish IS the durable store: a failure (database busy) is retried, because the daemon will not send it again. */
  async function publish(events: ChannelEventInput[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await io!.publish(events);
        return true;
      } catch (error) {
        // The valid ones are stored and the rest audited by publishEvents; rare enough to show no typing for any.
        if (error instanceof InvalidPayloadError) return false;
        const lost = stopped && attempt >= 2;
        deps.log.error({ error: (error as Error).message, attempt, lost, messages: events.length }, lost ? 'Signal messages could not be stored and are lost' : 'storing Signal messages failed; retrying');
        if (lost) return false;
        // A stop cuts the wait short: the last attempts must fit in the time stop() gives what was read.
        await sleep(Math.min(30_000, 200 * 2 ** attempt), undefined, { signal: halting.signal }).catch(() => undefined);
      }
    }
  }

  /** Notifications read and not yet stored, in arrival order. */
  let unread: Notification[] = [];

  /**
   * Stores every notification read so far in one write, then hands the rest (audits, typing) for each to the
   * follow-up chain. One write per read, not one per message: a backlog signal-cli flushes on connect arrives in one
   * read, and a crash before it is stored loses it for good.
   */
  async function store(parseCtx: ParseContext): Promise<void> {
    const batch = unread;
    unread = [];
    if (batch.length === 0) return;
    const parsed = batch.map((n) => {
      const p = parseNotification(n.method, n.params, parseCtx);
      // Learned at once: a mention of the account later in the same read must be recognised.
      if (p.kind === 'ignored' && p.selfUuid) learnSelf(p.selfUuid);
      return p;
    });
    const messages = parsed.flatMap((p) => (p.kind === 'event' ? [p] : []));
    // Typing follows the store, unless the reply has already begun: a fast reply stops what would otherwise type on
    // after it. One mark per conversation, settled once for all of the batch's messages there.
    const places = new Map(messages.map((m) => [m.event.conversation.id, m.event.conversation]));
    for (const place of places.values()) typing.expect(place);
    const stored = messages.length === 0 || (await publish(messages.map((m) => m.event)));
    if (stored && messages.length > 0) health.update({ lastMessageAt: deps.now(), lastAliveAt: deps.now() });
    afterStores(() => settle(parsed, stored, places, parseCtx.account));
  }

  async function settle(parsed: Parsed[], stored: boolean, places: Map<string, ChannelEventInput['conversation']>, account: string): Promise<void> {
    const turns = new Map<string, string[]>();
    for (const p of parsed) {
      try {
        if (p.kind === 'ignored') {
          health.count(p.reason);
          // A multi-account daemon sends every account's messages down every connection; a single-account one, only its own.
          if (p.reason === 'other-account' && singleAccount && !health.state.otherAccount) {
            deps.log.error({ account }, 'signal-cli delivers messages for another account: check connectors.signal.account');
            health.update({ otherAccount: p.other ?? 'another account' }, true);
          }
        } else if (p.kind === 'unsupported') await audit('inbound.unsupported', { what: p.what });
        else if (p.kind === 'rejected') await audit('inbound.rejected', { issues: p.issues });
        else if (stored && p.addressed && !p.event.edited && (await admittedNow(deps.gateway.access, deps.access, p.event))) {
          const id = p.event.conversation.id;
          turns.set(id, [...(turns.get(id) ?? []), dedupeKey(p.event)]);
        }
      } catch (error) {
        // One failed audit or read costs only itself: the rest of the batch is still settled.
        deps.log.error({ error: (error as Error).message }, 'signal: after storing, a notification could not be handled');
      }
    }
    // `stopped` after the reads: a stop meanwhile has already stopped every indicator.
    for (const [id, place] of places) typing.startExpected(place, turns.has(id) && !stopped, turns.get(id));
  }

  /** Multi-account daemons list their accounts; a single-account daemon does not know `listAccounts`. */
  async function verifyAccount(account: string, timeoutMs: number): Promise<void> {
    const accounts = await call('listAccounts', {}, timeoutMs).catch((error: unknown) => {
      if (error instanceof SignalRpcError) return undefined;
      throw error;
    });
    singleAccount = !Array.isArray(accounts);
    if (!Array.isArray(accounts)) return;
    const numbers = accounts.map((a: { number?: unknown }) => a?.number).filter((n): n is string => typeof n === 'string');
    if (!numbers.includes(account)) {
      throw new ConfigError(`${field('account')}: signal-cli serves ${numbers.join(', ') || 'no account'}, not ${account}; register or link it first (README, Signal)`);
    }
  }

  /** The own ACI from signal-cli's local recipient store (no network call); sync messages teach it later otherwise. */
  async function lookupSelf(account: string, timeoutMs: number): Promise<void> {
    try {
      const contacts = await call('listContacts', { recipient: [account], allRecipients: true }, timeoutMs);
      const self = Array.isArray(contacts) ? contacts.find((c: { number?: unknown }) => c?.number === account) : undefined;
      if (typeof self?.uuid === 'string') learnSelf(self.uuid);
    } catch (error) {
      deps.log.warn({ error: (error as Error).message }, 'could not look up the account\'s own uuid; mentions are matched by number until a sync message teaches it');
    }
  }

  const send = createSend({
    call,
    waits: new PlatformWaits(deps),
    progress: partProgress(deps.store, deps.name),
    log: deps.log,
    selfId: () => selfUuid ?? cfg.account ?? 'self',
    maxMessageChars: cfg.maxMessageChars,
    onSending: (reply) => typing.stop(reply.address.conversation),
    ...(options.maxRateLimitWaitMs !== undefined ? { maxRateLimitWaitMs: options.maxRateLimitWaitMs } : {}),
  });

  return {
    platform: PLATFORM,
    send,

    async start(connectorIo) {
      const { endpoint, account } = settings();
      io = connectorIo;
      await health.load();
      // A uuid learned for another number (the config changed) would make mentions of someone else address us.
      selfUuid = health.state.selfAccount === account ? health.state.selfUuid : undefined;
      health.update({ otherAccount: undefined, stoppedAt: undefined }); // judged afresh for this config
      if (!isLoopbackHost(endpoint.host)) {
        deps.log.warn({ rpc: endpoint.url }, 'signal-cli JSON-RPC has no encryption or authentication: keep it on loopback or a private network');
      }
      const parseCtx = ctx(account);
      // Mentions of the account are told by its uuid: until it is known (a first start), reads wait for start-up to
      // learn it. Once known, each read is stored at once.
      let ready = (): void => undefined;
      if (!selfUuid) storing = new Promise<void>((resolve) => (ready = resolve));
      link = new SignalLink({
        endpoint,
        account,
        timing,
        log: deps.log,
        now: deps.now,
        audit: async (kind, data) => {
          // Reconnected is alive again, before the next ping says so.
          const back = kind === 'connector.reconnected' ? { lastAliveAt: deps.now(), lastError: undefined } : {};
          health.update({ reconnects: link?.reconnects ?? 0, ...(link?.lastLoss ? { lastLoss: link.lastLoss } : {}), ...back }, true);
          await audit(kind, data);
        },
        onNotification: (n) => {
          health.update({ lastNotificationAt: deps.now(), lastAliveAt: deps.now() });
          unread.push(n);
          storing = storing.then(() => store(parseCtx)).catch(failed);
        },
        onMalformed: (reason) => afterStores(() => audit('inbound.rejected', { issues: [reason] })),
        onAlive: () => health.update({ lastAliveAt: deps.now() }),
        onReconnectFailed: (error) =>
          health.update({ lastError: { at: deps.now(), error: plainNetError(error, endpoint) ?? (error as Error).message } }, true),
      });
      try {
        await link.start(startTimeoutMs);
        await call('version', {}, startTimeoutMs).catch((error: unknown) => {
          // A multi-account daemon refuses any call for an account it does not hold.
          if (error instanceof SignalRpcError && error.code === -32602) {
            throw new ConfigError(`${field('account')}: signal-cli at ${endpoint.url} does not serve ${account} (${error.message}); register or link it first`);
          }
          throw error;
        });
        health.update({ lastAliveAt: deps.now() }, true);
        await verifyAccount(account, startTimeoutMs);
        if (!selfUuid) await lookupSelf(account, startTimeoutMs);
      } catch (error) {
        await link.stop();
        // On record for doctor: this start did not get through, whatever an earlier run heard.
        const why = plainNetError(error, endpoint) ?? (error as Error).message;
        health.update({ lastLoss: { at: deps.now(), reason: 'start failed' }, lastError: { at: deps.now(), error: why } }, true);
        // Whatever was read before the failure exists nowhere else: store it before giving up.
        ready();
        await finished();
        throw error;
      } finally {
        ready();
      }
      deps.log.info({ rpc: endpoint.url, selfUuid }, 'signal connected');
    },

    async check() {
      let endpoint: Endpoint;
      let account: string;
      try {
        ({ endpoint, account } = settings());
      } catch (error) {
        return [{ ok: false, what: 'signal config', detail: (error as Error).message }];
      }
      if (!link) await health.load();
      const version = (v: unknown) => String((v as { version?: unknown } | null)?.version ?? 'unknown version');
      const asProbe = (p: Promise<unknown>) =>
        p.then((v) => ({ ok: true as const, version: version(v) }), (e: Error) => ({ ok: false as const, error: e.message }));
      let probe: Parameters<typeof describeHealth>[0]['probe'];
      if (link?.connected) probe = await asProbe(call('version', {}, timing.pingTimeoutMs));
      else if (link) probe = { ok: false, error: `disconnected (${link.lastLoss?.reason ?? 'unknown'}); reconnecting with backoff` };
      // Over HTTP a request never subscribes to receiving, so probing from here (doctor) loses nothing.
      else if (endpoint.kind === 'http') probe = await asProbe(postRpc(endpoint, 'doctor', 'version', { account }, timing.pingTimeoutMs));
      const listening = !link && endpoint.kind === 'tcp' && isLoopbackHost(endpoint.host) ? loopbackListening(endpoint.port) : undefined;
      return describeHealth({ rpc: endpoint.url, account, state: health.state, link, timing, now: deps.now(), probe, listening });
    },

    async stop() {
      stopped = true;
      halting.abort();
      typing.stopAll();
      await link?.stop();
      // What was read is finished: it exists nowhere else any more.
      await finished();
      health.update({ stoppedAt: deps.now() });
      await health.flush();
    },
  };
}
