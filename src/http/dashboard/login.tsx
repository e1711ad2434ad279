import { bodyLimit } from 'hono/body-limit';
import { verifyPassword } from '../../../core/auth.js';
import { CSS, JS } from './assets.js';
import { WEB_ACTOR, type DashApp, type DashContext } from './deps.js';
import { Bare, render } from './layout.js';
import { LoginLimiter, remoteAddress } from './login-limit.js';
import { formBody } from '../form.js';

const MAX_PASSWORD_CHARS = 1024;

function LoginPage({ error }: { error?: string | undefined }) {
  return (
    <Bare title="Log in">
      <h1>MonkeyClaw</h1>
      {error ? (
        <p role="alert" class="notice bad">
          {error}
        </p>
      ) : null}
      <form method="post" action="/login" class="row">
        <input type="text" name="username" value="admin" autocomplete="username" hidden />
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required autofocus />
        </label>
        <button type="submit">Log in</button>
      </form>
    </Bare>
  );
}

/**
 * Login, logout and the static assets. All answer 401 until a password exists. After login the browser always
 * goes to `/`: no route takes a redirect target (or a URL or token) from the query string.
 */
export function loginRoutes(app: DashApp, ctx: DashContext): void {
  const { deps, session: auth, guard } = ctx;
  const limiter = new LoginLimiter(deps.loginLimits, deps.now);
  const audit = (kind: string, actor: string, data: Record<string, unknown>) => deps.store.appendAudit([{ kind, actor, data }]);

  app.get('/assets/dashboard.css', auth.passwordGate, (c) => c.body(CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' }));
  app.get('/assets/dashboard.js', auth.passwordGate, (c) =>
    c.body(JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }),
  );

  app.get('/favicon.ico', auth.passwordGate, (c) => c.body(null, 204));

  app.get('/login', auth.passwordGate, async (c) => {
    if (await auth.current(c)) return c.redirect('/', 303);
    return render(c, <LoginPage />);
  });

  app.post('/login', auth.passwordGate, auth.requireSameOrigin, bodyLimit({ maxSize: 16 * 1024 }), async (c) => {
    const address = remoteAddress(c);
    const hash = (await deps.store.authStore().adminPasswordHash())!; // passwordGate: there is one
    // A browser that signed in before is counted apart, by its device mark: guesses from its address cannot lock
    // it out (behind a reverse proxy every client has the proxy's address).
    const device = auth.deviceOf(c, hash);
    const key = device ? `device:${device}` : address;
    if (!limiter.attempt(key, device !== undefined)) {
      c.header('retry-after', String(Math.ceil(limiter.retryAfterMs(key, device !== undefined) / 1000)));
      return render(c, <LoginPage error="Too many login attempts. Wait a few minutes and try again." />, 429);
    }
    const field = (await formBody(c)).password;
    const password = typeof field === 'string' ? field : '';
    const ok = password.length > 0 && password.length <= MAX_PASSWORD_CHARS && (await verifyPassword(password, hash));
    if (!ok) {
      await audit('admin.login_failed', 'web', { address, ...(device ? { knownDevice: true } : {}) });
      return render(c, <LoginPage error="Wrong password." />, 400);
    }
    limiter.succeeded(key);
    await deps.store.dashboardQueries().pruneSessions((deps.now ?? Date.now)());
    await auth.begin(c);
    auth.rememberDevice(c, hash, device);
    await audit('admin.login', WEB_ACTOR, { address });
    return c.redirect('/', 303);
  });

  app.post('/logout', guard.action(), async (c) => {
    await auth.end(c, c.get('session'));
    await audit('admin.logout', WEB_ACTOR, {});
    return c.redirect('/login', 303);
  });
}
