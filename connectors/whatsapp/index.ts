import QRCode from 'qrcode';
import type { Config } from '../../core/config.js';
import type { Connector, ConnectorDeps, ConnectorFactory } from '../../core/connector.js';
import { partProgress } from '../../core/part-progress.js';
import { PLATFORM_LIMITS, type Limit } from '../../core/render/index.js';
import { clearAuthState, loadAuthState, storedLink } from './auth-state.js';
import { ALIAS_PREFIX, createInbound, EXPIRATION_PREFIX, WATERMARK_KEY } from './inbound.js';
import { DEFAULT_BACKOFF, WaLink, type Backoff, type LinkStatus } from './link.js';
import { QR_KEY, STATUS_KEY } from './link-words.js';
import type { Self } from './parse.js';
import { silentTurn } from '../../core/typing.js';
import { PRUNE_EVERY_MS, Quotes } from './quotes.js';
import { createSender, whatsappTyping } from './send.js';
import { createBaileysSocket, type WaSocketFactory } from './socket.js';

export type WhatsappConfig = NonNullable<Config['connectors']['whatsapp']>;

/** Knobs a test turns; production uses the defaults (and the real baileys socket). */
export interface WhatsappOptions {
  socketFactory?: WaSocketFactory;
  backoff?: Partial<Backoff>;
  /** Gap between two sent messages (anti-burst); default 1 s. */
  spacingMs?: number;
  typingRefreshMs?: number;
  /** See CONNECT_DEADLINE_MS in link.ts. */
  connectDeadlineMs?: number;
  /** Where the terminal QR is drawn; stderr by default. */
  qrOut?: (text: string) => void;
}

export { QR_KEY, STATUS_KEY };
export const RELINK = 'logged out: re-link required (the revoked auth state was deleted: restart the connector and scan the new QR)';

export function createWhatsapp(deps: ConnectorDeps<WhatsappConfig>, options: WhatsappOptions = {}): Connector {
  const c = deps.config;
  const name = deps.name;
  const actor = `connector:${name}`;
  const audit = (kind: string, data: Record<string, unknown>) => deps.store.appendAudit([{ kind, actor, data }]);
  const max = PLATFORM_LIMITS.whatsapp.max;
  if (c.maxMessageChars && c.maxMessageChars > max) deps.log.warn({ maxMessageChars: c.maxMessageChars }, `WhatsApp refuses messages over ${max} characters; using ${max}`);
  const limit: Limit = { ...PLATFORM_LIMITS.whatsapp, max: Math.min(c.maxMessageChars ?? max, max) };
  if (c.streamEdits) deps.log.warn({}, `connectors.${name}.streamEdits: not supported; replies are sent once, finished`);

  const self: Self = { ids: new Set() };
  const quotes = new Quotes(deps);
  let stopPruning: (() => void) | undefined;
  let link: WaLink | undefined;
  let inbound: ReturnType<typeof createInbound> | undefined;
  const socket = () => link?.socket;
  const typing = whatsappTyping(socket, silentTurn(deps.store), options.typingRefreshMs);
  const setStatus = (s: LinkStatus) => deps.store.setConnectorState(name, STATUS_KEY, s);
  /** A QR code lives as long as its connection: the dashboard must never offer a dead one. */
  const clearQr = () => deps.sealed.setConnectorState(name, QR_KEY, null);

  /** The own jid and LID, normalized: mentions and quotes of either address the bot. */
  function learnSelf(user: { id: string; lid?: string | undefined } | undefined): void {
    for (const j of [user?.id, user?.lid]) if (j) self.ids.add(j.replace(/:\d+@/, '@'));
  }

  async function showQr(qr: string): Promise<void> {
    // The QR is a credential for a minute, and it quotes the auth state's secret (advSecretKey): sealed like the
    // auth state for the dashboard, drawn on the terminal, never written to the log.
    await deps.sealed.setConnectorState(name, QR_KEY, { qr, at: new Date(deps.now()).toISOString() });
    await setStatus({ state: 'qr', at: new Date(deps.now()).toISOString() });
    deps.log.info({}, 'WhatsApp is not linked: on the phone open WhatsApp > Settings > Linked devices > Link a device, and scan the QR code printed on stderr');
    const drawing = await QRCode.toString(qr, { type: 'terminal', small: true });
    (options.qrOut ?? ((t) => process.stderr.write(t)))(`\n${drawing}\n`);
  }

  return {
    platform: 'whatsapp',
    async start(io) {
      // A QR code left from an earlier run is dead: the dashboard must not offer it.
      await clearQr();
      await quotes.prune();
      stopPruning = quotes.pruneEvery(PRUNE_EVERY_MS);
      const { state, saveCreds } = await loadAuthState(deps.sealed, name);
      learnSelf(state.creds.me);
      // First start: nothing before now is ours to answer (history sync brings weeks of old messages).
      let watermark = (await deps.store.getConnectorState(name, WATERMARK_KEY)) as number | undefined;
      if (typeof watermark !== 'number') {
        watermark = Math.floor(deps.now() / 1000);
        await deps.store.setConnectorState(name, WATERMARK_KEY, watermark);
      }
      // Read now, not per message: nothing (not even a database read) may come before a message is stored.
      // Oldest first: where two LIDs claim one number, the one WhatsApp named last wins.
      const aliases = (await deps.store.listConnectorState(name, ALIAS_PREFIX))
        .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt))
        .flatMap(({ key, value }): Array<[string, string]> => (typeof value === 'string' ? [[key.slice(ALIAS_PREFIX.length), value]] : []));
      const expirations = (await deps.store.listConnectorState(name, EXPIRATION_PREFIX)).flatMap(({ key, value }): Array<[string, number]> =>
        typeof value === 'number' && value > 0 ? [[key.slice(EXPIRATION_PREFIX.length), value]] : [],
      );
      inbound = createInbound({
        deps,
        io,
        typing,
        socket,
        quotes,
        watermark,
        aliases,
        expirations,
        parse: { account: name, self, assistant: c.assistant, now: deps.now },
      });
      const enqueue = inbound.enqueue;
      link = new WaLink({
        auth: state,
        saveCreds,
        factory: options.socketFactory ?? createBaileysSocket,
        url: c.apiRoot,
        log: deps.log,
        backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
        ...(options.connectDeadlineMs !== undefined ? { connectDeadlineMs: options.connectDeadlineMs } : {}),
        onQr: (qr) => showQr(qr).catch((error: Error) => deps.log.error({ error: error.message }, 'could not show the WhatsApp QR')),
        onUpsert: (payload) => {
          learnSelf(link?.socket?.user ?? state.creds.me);
          enqueue(payload);
        },
        onStatus: async (s) => {
          if (s.state === 'open') {
            learnSelf(link?.socket?.user ?? state.creds.me);
            await clearQr();
            deps.log.info({ linked: [...self.ids] }, 'whatsapp connected');
          }
          if (s.state === 'reconnecting') {
            // The code shown belongs to the connection that was lost: the next one brings its own.
            await clearQr();
            await audit('connector.reconnecting', { code: s.code, attempt: s.attempt, delayMs: s.delayMs, ...(s.reason ? { reason: s.reason } : {}) });
          }
          await setStatus(s);
        },
        onLoggedOut: async () => {
          typing.stopAll();
          deps.log.error({}, `WhatsApp ${RELINK}`);
          await audit('connector.logged_out', { reason: 'WhatsApp revoked this linked device (401)' });
          await clearAuthState(deps.sealed, name);
        },
      });
      link.start();
    },

    send: createSender({
      socket,
      progress: partProgress(deps.store, name),
      loggedOut: () => link?.loggedOut === true,
      refused: () => (link?.refused === undefined ? undefined : link.refused === 440 ? 'another client took this WhatsApp link over (440)' : 'WhatsApp refused this account (403)'),
      limit,
      log: deps.log,
      quotes,
      expiration: (conversation) => inbound?.expiration(conversation),
      typing,
      spacingMs: options.spacingMs ?? 1_000,
    }),

    async check() {
      const status = (await deps.store.getConnectorState(name, STATUS_KEY)) as LinkStatus | null | undefined;
      const linked = await storedLink(deps.sealed, name);
      if (status?.state === 'logged_out') return [{ ok: false, what: 'whatsapp link', detail: `${RELINK} (since ${status.at})` }];
      // A connection that keeps failing is said first: no QR code comes until WhatsApp can be reached.
      const lost = status?.state === 'reconnecting' ? `${status.reason ?? 'connection lost'} (code ${status.code ?? 'unknown'}, ${status.at}), reconnecting (attempt ${status.attempt})` : undefined;
      if (!linked) {
        const detail = lost ? `not linked, and WhatsApp cannot be reached: ${lost}` : 'not linked: start the connector and scan the QR code it prints (WhatsApp > Linked devices)';
        return [{ ok: false, what: 'whatsapp link', detail }];
      }
      const who = `linked as ${linked.id.replace(/:\d+@/, '@')}`;
      if (lost) return [{ ok: false, what: 'whatsapp link', detail: `${who}; ${lost}` }];
      if (status?.state === 'refused') {
        const why = status.code === 440 ? 'another client took this link over (is a second gateway running on it?)' : 'WhatsApp refused this account';
        return [{ ok: false, what: 'whatsapp link', detail: `${who}; ${why} (code ${status.code}, ${status.at}); not reconnecting: stop the other client, then restart the connector` }];
      }
      // Stopped with its link intact: nothing is wrong with it, it just is not running (doctor before `start`).
      if (status?.state === 'stopped') return [{ ok: true, what: 'whatsapp link', detail: `${who}; the connector is not running (stopped at ${status.at})` }];
      return [{ ok: status?.state === 'open', what: 'whatsapp link', detail: `${who}; ${status?.state ?? 'never connected'} since ${status?.at ?? '-'}` }];
    },

    async stop() {
      stopPruning?.();
      typing.stopAll();
      await link?.stop();
      await inbound?.idle();
      // Only a link that was open is "stopped" (ok for doctor): a logout, a QR never scanned or a lost connection
      // stays on record as it was, so doctor keeps failing it.
      const last = (await deps.store.getConnectorState(name, STATUS_KEY)) as LinkStatus | null | undefined;
      if (link && last?.state === 'open') await setStatus({ state: 'stopped', at: new Date(deps.now()).toISOString() });
      await clearQr();
      if (inbound) deps.log.info({ ...inbound.counts }, 'whatsapp connector stopped');
      link = undefined;
    },
  };
}

export const create: ConnectorFactory<WhatsappConfig> = (deps) => createWhatsapp(deps);
