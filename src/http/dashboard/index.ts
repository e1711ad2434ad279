import { Hono } from 'hono';
import { Redactor } from '../../../core/redactor.js';
import { dashboardGuards, sessionAuth, type DashEnv } from '../session-auth.js';
import { httpError } from '../errors.js';
import { hostGuard } from '../host-guard.js';
import { assistantRoutes } from './assistants.js';
import { auditRoutes } from './audit.js';
import { chatRoutes } from './chat.js';
import { linkingRoutes } from './linking.js';
import { conversationRoutes } from './conversations.js';
import { Flash, type DashboardDeps, type DashContext } from './deps.js';
import { notFoundPage } from './layout.js';
import { governanceRoutes } from './governance.js';
import { loginRoutes } from './login.js';
import { overviewRoutes } from './overview.js';
import { workspaceRoutes } from './workspaces.js';
import { connectorRoutes } from './connectors.js';
import { SnapshotSource } from './snapshot.js';

export type { DashboardDeps } from './deps.js';

/**
 * The owner's dashboard, server-rendered. Until `admin set-password` has run every route answers 401; after that a
 * page without a session redirects to /login and anything else without one is 401. Every state-changing request
 * needs the session, a same-origin Origin (or Sec-Fetch-Site) and the session's CSRF token; the live stream needs
 * the session and a same-origin caller.
 */
export function dashboardRoutes(deps: DashboardDeps): Hono<DashEnv> {
  const app = new Hono<DashEnv>();
  const session = sessionAuth({ auth: deps.store.authStore(), ...(deps.secureCookies !== undefined ? { secureCookies: deps.secureCookies } : {}), ...(deps.now ? { now: deps.now } : {}) });
  // Credential shapes at least, whatever the caller's redactor knows besides.
  const shapes = new Redactor();
  const redact = (text: string) => shapes.redact(deps.redactor ? deps.redactor.redact(text) : text);
  const redactCommand = (text: string) => shapes.redactTokens(deps.redactor ? deps.redactor.redactTokens(text) : text);
  const ctx: DashContext = { deps, session, guard: dashboardGuards(session), flash: new Flash(), redact, redactCommand, snapshots: new SnapshotSource(deps, redact) };
  // Before anything else, the login included: the cookie session is what a rebound name would be after.
  app.use('*', hostGuard(deps.config.server));
  loginRoutes(app, ctx);
  overviewRoutes(app, ctx);
  conversationRoutes(app, ctx);
  assistantRoutes(app, ctx);
  workspaceRoutes(app, ctx);
  governanceRoutes(app, ctx);
  auditRoutes(app, ctx);
  chatRoutes(app, ctx);
  linkingRoutes(app, ctx);
  connectorRoutes(app, ctx);
  // A signed-in owner at an address that is no page gets 404, not the 401 that would say they were signed out.
  app.all('*', async (c, next) => {
    const signedIn = await session.current(c);
    if (!signedIn) return next();
    // A browser gets a page it can leave by a link; anything else the API's error shape.
    if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html')) return notFoundPage(c, signedIn.csrfToken);
    return c.json(httpError('no such page', 'not_found', 'not_found'), 404);
  });
  return app;
}
