import type { Hono } from 'hono';
import type { Config } from '../../../core/config.js';
import type { AnyPlug } from '../../../core/plug.js';
import type { QueueDriver } from '../../../core/queue.js';
import type { SqliteStore } from '../../../core/sqlite/store.js';
import type { DashEnv, dashboardGuards, SessionAuth } from '../session-auth.js';
import type { TurnClient } from '../turns.js';
import type { LoginLimits } from './login-limit.js';

/** What the dashboard is built from. It reads no vault and holds no credential: no page can show a secret. */
export interface DashboardDeps {
  config: Config;
  store: Pick<SqliteStore, 'authStore' | 'accessStore' | 'dashboardQueries' | 'settingsStore' | 'appendAudit' | 'verifyAudit' | 'getConnectorState'>;
  /** The plug registry the workers use: pipelines made in the dashboard are checked against it before they are saved. */
  plugs: ReadonlyMap<string, AnyPlug>;
  /** For queue depths and dead-letter counts. */
  queue: Pick<QueueDriver, 'depth'>;
  /** Web chat's surface connector (platform `web`). */
  turns: Pick<TurnClient, 'ask'>;
  /** The supervisor's children and their states. */
  states?: () => Record<string, string>;
  /** Force Secure cookies; by default they are Secure exactly when the request came over TLS. */
  secureCookies?: boolean;
  loginLimits?: LoginLimits;
  now?: () => number;
}

/** Shared by the page modules: deps, session auth and the one-shot status message after a POST. */
export interface DashContext {
  deps: DashboardDeps;
  session: SessionAuth;
  guard: ReturnType<typeof dashboardGuards>;
  flash: Flash;
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
