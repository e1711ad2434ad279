import type { Hono } from 'hono';
import type { Config } from '../../../core/config.js';
import type { AnyPlug } from '../../../core/plug.js';
import type { QueueDriver } from '../../../core/queue.js';
import type { Redactor } from '../../../core/redactor.js';
import type { SqliteStore } from '../../../core/sqlite/store.js';
import type { Verdict } from '../../doctor.js';
import type { DashEnv, dashboardGuards, SessionAuth } from '../session-auth.js';
import type { TurnClient } from '../turns.js';
import type { LoginLimits } from './login-limit.js';
import type { SnapshotSource } from './snapshot.js';

/**
 * What the dashboard is built from. It reads no vault and holds no credential: no page can show a secret. The doctor
 * runner holds credentials elsewhere (a child process), and the redactor only masks what it was given.
 */
export interface DashboardDeps {
  config: Config;
  store: Pick<SqliteStore, 'authStore' | 'accessStore' | 'approvalStore' | 'dashboardQueries' | 'settingsStore' | 'appendAudit' | 'verifyAudit' | 'getConnectorState'>;
  /** The plug registry the workers use: pipelines made in the dashboard are checked against it before they are saved. */
  plugs: ReadonlyMap<string, AnyPlug>;
  /** For queue depths and dead-letter counts. */
  queue: Pick<QueueDriver, 'depth'>;
  /** Web chat's surface connector (platform `web`). */
  turns: Pick<TurnClient, 'ask'>;
  /** The supervisor's children and their states. */
  states?: () => Record<string, string>;
  /** The QR code WhatsApp waits for, unsealed (the connector seals it with its state key); none while linked. */
  whatsappQr?: () => Promise<unknown>;
  /**
   * Runs one enabled connector's doctor checks (under `start`, in a child process of its own that holds only that
   * connector's credentials). Without it the doctor button says it is unavailable.
   */
  doctor?: (connector: string) => Promise<Verdict[]>;
  /** Applied to every error text and verdict shown; the supervisor's knows each secret it handed out. */
  redactor?: Pick<Redactor, 'redact' | 'redactTokens'>;
  /** Aborted when the gateway shuts down: live views end then, instead of holding the HTTP server's close open. */
  stopping?: AbortSignal;
  /** Force Secure cookies; by default they are Secure exactly when the request came over TLS. */
  secureCookies?: boolean;
  loginLimits?: LoginLimits;
  now?: () => number;
}

/** Shared by the page modules: deps, session auth, the one-shot status message after a POST, and the redactor. */
export interface DashContext {
  deps: DashboardDeps;
  session: SessionAuth;
  guard: ReturnType<typeof dashboardGuards>;
  flash: Flash;
  /** Every text that came from a process or a platform passes through it before it is shown. */
  redact: (text: string) => string;
  /** A command put to an owner: token shapes only, so that nothing it runs is hidden from them (Redactor.redactTokens). */
  redactCommand: (text: string) => string;
  /** The overview's figures, shared by every page that shows them. */
  snapshots: SnapshotSource;
}

export type DashApp = Hono<DashEnv>;

/** The actor every dashboard change is audited under: the logged-in owner. */
export const WEB_ACTOR = 'web:admin';

/**
 * A one-shot message per session (POST, then redirect, then the page shows what happened), kept in memory so no
 * text travels through a URL.
 */
export class Flash {
  private readonly messages = new Map<string, { text: string; ok: boolean }>();

  set(sessionHash: string, text: string, ok = true): void {
    this.messages.delete(sessionHash);
    this.messages.set(sessionHash, { text, ok });
    if (this.messages.size > 1000) this.messages.delete(this.messages.keys().next().value!);
  }

  take(sessionHash: string): { text: string; ok: boolean } | undefined {
    const m = this.messages.get(sessionHash);
    this.messages.delete(sessionHash);
    return m;
  }
}
