import type { Backend } from '../../core/backend.js';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword } from '../../core/auth.js';
import { parseConfig } from '../../core/config.js';
import { dedupeKey } from '../../core/event.js';
import type { Redactor } from '../../core/redactor.js';
import { Vault } from '../../core/vault.js';
import { checkConnector } from '../../src/doctor.js';
import { createApp } from '../../src/http.js';
import type { LoginLimits } from '../../src/http/dashboard/login-limit.js';
import type { Snapshot } from '../../src/http/dashboard/snapshot.js';
import { TurnClient } from '../../src/http/turns.js';
import { builtinPlugs } from '../../plugs/index.js';
import { startTestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/tmp.js';
import { isOwnerDecision } from '../../core/session-worker.js';
import { sealedState } from '../../core/sealed-state.js';
import { QR_KEY } from '../../connectors/whatsapp/link-words.js';

export const ORIGIN = 'http://localhost';
export const PASSWORD = 'correct horse battery staple';
export const SECRET_VALUE = 'sekrit-7391:AAH-planted-vault-value';
export const XSS = '<script>alert(1)</script><img src=x onerror=alert(1)>';
export const XSS_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;';

const configFor = (telegramApiRoot?: string) => ({
  assistants: { default: { backend: 'echo' } },
  access: { dm: 'pairing', allow: ['telegram:100'], deny: ['telegram:666'], owners: ['telegram:100'] },
  connectors: { telegram: { enabled: true, token: 'secret:TELEGRAM_TOKEN', ...(telegramApiRoot ? { apiRoot: telegramApiRoot } : {}) }, whatsapp: { enabled: true } },
});

export interface HarnessOptions {
  password?: string | null;
  loginLimits?: LoginLimits;
  /** Where the telegram connector's checks call (a FakeTelegram); the doctor button runs them in process. */
  telegramApiRoot?: string;
  /** As `start` passes the supervisor's redactor, which knows every secret it handed out. */
  redactor?: Redactor;
  /** Config keys that replace the harness's own. */
  config?: Record<string, unknown>;
  /** As `start` passes it: aborted when the gateway shuts down. */
  stopping?: AbortSignal;
  /** The backend every assistant talks to (echo by default). */
  backend?: Backend;
  /** The supervised processes and their states (a worker running, Telegram restarting by default). */
  states?: Record<string, string>;
}

export interface Login {
  cookie: string;
  csrf: string;
}

/**
 * An in-process gateway (embedded queue, echo worker, a telegram outbound recorder) with the dashboard on top,
 * driven through app.request(): no server. A secret is planted in the vault so tests can prove no page shows it.
 */
export async function dashboardHarness(options: HarnessOptions = {}) {
  // Top-level keys given replace the harness's own.
  const raw = { ...configFor(options.telegramApiRoot), ...options.config };
  const g = await startTestGateway({ config: raw, ...(options.backend ? { backend: options.backend } : {}) });
  const config = parseConfig(raw);
  const dataDir = tempDir('mc-dash-data-');
  const vault = new Vault(g.store.vaultStore(), randomBytes(32), (e) => g.store.appendAudit(e), 'test');
  await vault.unlock();
  await vault.set('TELEGRAM_TOKEN', SECRET_VALUE);
  const whatsappState = sealedState(g.store, randomBytes(32));
  const turns = new TurnClient(g.queue, g.store, 'web', isOwnerDecision(config));
  turns.start();
  const password = options.password === undefined ? PASSWORD : options.password;
  if (password) await g.store.authStore().setAdminPasswordHash(await hashPassword(password), []);
  const app = createApp({
    dashboard: {
      config,
      store: g.store,
      plugs: builtinPlugs(),
      queue: g.queue,
      turns,
      states: () => options.states ?? { worker: 'running', 'connector:telegram': 'restarting' },
      // As `start` reads it: unsealed with WhatsApp's own state key.
      whatsappQr: () => whatsappState.getConnectorState('whatsapp', QR_KEY),
      ...(options.loginLimits ? { loginLimits: options.loginLimits } : {}),
      ...(options.redactor ? { redactor: options.redactor } : {}),
      ...(options.stopping ? { stopping: options.stopping } : {}),
      // The checks `doctor --connector` runs, in process here, with the credentials the supervisor would hand over.
      ...(options.telegramApiRoot
        ? { doctor: (name: string) => checkConnector(name, config, { dataDir: dataDir.dir, store: g.store, credentials: async () => ({ values: { 'secret:TELEGRAM_TOKEN': SECRET_VALUE } }) }) }
        : {}),
    },
  });

  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers: { accept: 'text/html', ...headers } });
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    app.request(path, { method: 'POST', body: form(fields), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, ...headers } });

  async function login(pw = PASSWORD, path = '/login'): Promise<Login> {
    const r = await post(path, { password: pw });
    if (r.status !== 303) throw new Error(`login failed: ${r.status}`);
    const cookie = r.headers.getSetCookie()[0]!.split(';')[0]!;
    const page = await (await get('/', { cookie })).text();
    const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page)?.[1];
    if (!csrf) throw new Error('no csrf token on the overview page');
    return { cookie, csrf };
  }

  /** The live stream's snapshots, one at a time, as the overview page reads them. */
  async function liveSnapshots(s: Login) {
    const r = await get('/events', { cookie: s.cookie, origin: ORIGIN });
    if (r.status !== 200) throw new Error(`/events answered ${r.status}`);
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    return {
      async next(): Promise<Snapshot> {
        for (;;) {
          const m = /event: snapshot\ndata: (.*)\n\n/.exec(buffer);
          if (m) {
            buffer = buffer.slice(m.index + m[0].length);
            return JSON.parse(m[1]!) as Snapshot;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('the live stream ended');
          buffer += value;
        }
      },
      close: () => reader.cancel(),
    };
  }

  /** A form POST as the logged-in browser sends it: cookie, same Origin, the CSRF field. */
  const act = (s: Login, path: string, fields: Record<string, string>) => post(path, { _csrf: s.csrf, ...fields }, { cookie: s.cookie });

  return {
    whatsappState,
    g,
    app,
    config,
    get,
    post,
    login,
    act,
    liveSnapshots,
    /** Publishes a telegram DM and waits until its turn is committed. */
    async telegram(senderId: string, text: string, name = 'Ada') {
      const [event] = await g.publish([
        { v: 1, id: randomBytes(8).toString('hex'), platform: 'telegram', account: 'bot1', conversation: { id: senderId, kind: 'dm' },
          sender: { id: senderId, name, isBot: false }, text, platformMessageId: randomBytes(6).toString('hex'), receivedAt: new Date().toISOString() },
      ]);
      // Until the turn is committed and its replies to this chat are sent (a moment after the commit).
      for (let i = 0; i < 200; i++) {
        const turn = await g.store.handledTurn(dedupeKey(event!));
        const sent = turn && (await Promise.all(turn.filter((r) => r.queue === 'outbound:telegram').map((r) => g.store.sentMessageIds(r.reply.idempotencyKey))));
        if (sent && sent.every((ids) => ids !== undefined)) break;
        await sleep(10);
      }
      return event!;
    },
    async stop() {
      await turns.close();
      await g.stop();
      dataDir.remove();
    },
  };
}

export type Harness = Awaited<ReturnType<typeof dashboardHarness>>;
