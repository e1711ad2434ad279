import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createHmac } from 'node:crypto';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { digestEquals, newCsrfToken, newSessionId, sha256, type AuthStore } from '../../core/auth.js';
import { formBody } from './form.js';

/** What a logged-in dashboard request carries; the cookie's id itself is never kept, only its digest. */
export interface DashSession {
  idHash: string;
  csrfToken: string;
}

export type DashEnv = { Variables: { session: DashSession } };

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const CSRF_HEADER = 'x-csrf-token';
const CSRF_FIELD = '_csrf';

/** Secure (and `__Host-` prefixed) under TLS; a plain-HTTP loopback dashboard cannot keep a Secure cookie. */
const isSecure = (c: Context, forced: boolean | undefined) => forced === true || new URL(c.req.url).protocol === 'https:';
const cookieName = (secure: boolean) => (secure ? '__Host-mc_session' : 'mc_session');
const deviceCookieName = (secure: boolean) => (secure ? '__Host-mc_device' : 'mc_device');
/** A browser that signed in is remembered this long for the login limit (not for access: that is the session). */
const DEVICE_TTL_S = 365 * 24 * 60 * 60;

/**
 * The device mark's signature: keyed by the admin password's stored hash, which only the gateway holds, so a mark
 * cannot be made without having signed in, and every mark lapses when the password changes.
 */
const deviceSignature = (id: string, passwordHash: string): string => createHmac('sha256', `mc-device\0${passwordHash}`).update(id).digest('base64url');

const unauthorized = (c: Context) => c.text('Authentication required.', 401, { 'cache-control': 'no-store' });
const forbidden = (c: Context, why: string) => c.text(`Forbidden: ${why}.`, 403, { 'cache-control': 'no-store' });

/**
 * Whether a request comes from a page of this origin. A browser names the page's origin on every POST and on
 * cross-origin requests (`Origin`), and says where a request came from (`Sec-Fetch-Site`) on secure and loopback
 * origins; a request that shows neither (an opaque `Origin: null` counts as not showing it), nor a same-origin
 * Referer, is refused. The session cookie being
 * SameSite=Strict is the second line; the CSRF token the third.
 */
export function isSameOrigin(c: Context): boolean {
  const own = new URL(c.req.url).origin;
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== 'null') return origin === own;
  // `Origin: null` comes from privacy-sensitive contexts (and under Referrer-Policy: no-referrer): ask Sec-Fetch-Site.
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  if (origin === 'null') return false;
  const referer = c.req.header('referer');
  if (!referer) return false;
  try {
    return new URL(referer).origin === own;
  } catch {
    return false;
  }
}

export interface SessionAuthOptions {
  auth: AuthStore;
  /** Force Secure cookies (TLS terminated in front); otherwise decided by the request's scheme. */
  secureCookies?: boolean;
  now?: () => number;
}

/** Cookie sessions for the dashboard: random id in an HttpOnly SameSite=Strict cookie, its SHA-256 in web_sessions. */
export function sessionAuth(options: SessionAuthOptions) {
  const now = options.now ?? Date.now;
  const { auth } = options;

  async function current(c: Context): Promise<DashSession | undefined> {
    const id = getCookie(c, cookieName(isSecure(c, options.secureCookies)));
    if (!id || id.length > 128) return undefined;
    const idHash = sha256(id);
    const found = await auth.findSession(idHash, now());
    return found && { idHash, csrfToken: found.csrfToken };
  }

  return {
    current,

    /** Starts a session for the owner and sets its cookie; one the browser still carried ends (signed in anew). */
    async begin(c: Context): Promise<DashSession> {
      const earlier = await current(c);
      if (earlier) await auth.deleteSession(earlier.idHash);
      const id = newSessionId();
      const session = { idHash: sha256(id), csrfToken: newCsrfToken() };
      await auth.createSession(session.idHash, { csrfToken: session.csrfToken, expiresAt: now() + SESSION_TTL_MS });
      const secure = isSecure(c, options.secureCookies);
      setCookie(c, cookieName(secure), id, { httpOnly: true, sameSite: 'Strict', path: '/', secure, maxAge: SESSION_TTL_MS / 1000 });
      return session;
    },

    /**
     * The browser's device mark, if it carries a valid one: it signed in here before. The login limit counts its
     * attempts apart from its address's (OWASP's device cookies), so nobody else's guesses (behind the same proxy,
     * or from anywhere) can lock it out.
     */
    deviceOf(c: Context, passwordHash: string): string | undefined {
      const mark = getCookie(c, deviceCookieName(isSecure(c, options.secureCookies)));
      const [id, signature] = mark && mark.length <= 128 ? mark.split('.') : [];
      return id && signature && digestEquals(signature, deviceSignature(id, passwordHash)) ? id : undefined;
    },

    /** Marks the browser that just signed in (see `deviceOf`); it carries no access of its own. */
    rememberDevice(c: Context, passwordHash: string, id = newSessionId()): void {
      const secure = isSecure(c, options.secureCookies);
      setCookie(c, deviceCookieName(secure), `${id}.${deviceSignature(id, passwordHash)}`, { httpOnly: true, sameSite: 'Strict', path: '/', secure, maxAge: DEVICE_TTL_S });
    },

    async end(c: Context, session: DashSession): Promise<void> {
      await auth.deleteSession(session.idHash);
      const secure = isSecure(c, options.secureCookies);
      deleteCookie(c, cookieName(secure), { path: '/', secure, httpOnly: true, sameSite: 'Strict' });
    },

    /** 401 until `admin set-password` has run: there is no first-run page. */
    passwordGate: (async function passwordGate(c, next) {
      if (!(await auth.adminPasswordHash())) return unauthorized(c);
      await next();
    }) as MiddlewareHandler,

    /** Without a session: a page (asked for as HTML) goes to /login, never with a `next` target; anything else is 401. */
    requireSession: (redirectPages: boolean) =>
      (async function requireSession(c, next) {
        const session = await current(c);
        if (!session) {
          const page = redirectPages && c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html');
          return page ? c.redirect('/login', 303) : unauthorized(c);
        }
        c.set('session', session);
        await next();
      }) as MiddlewareHandler<DashEnv>,

    /** For the SSE stream and every state-changing request: the caller must be a page of this origin. */
    requireSameOrigin: (async function requireSameOrigin(c, next) {
      if (!isSameOrigin(c)) return forbidden(c, 'cross-origin request');
      await next();
    }) as MiddlewareHandler,

    /** Every state-changing request carries the session's CSRF token, as a header or a form field. */
    requireCsrf: (async function requireCsrf(c, next) {
      const expected = c.get('session').csrfToken;
      let token = c.req.header(CSRF_HEADER);
      if (token === undefined && /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header('content-type') ?? '')) {
        const field = (await formBody(c))[CSRF_FIELD];
        token = typeof field === 'string' ? field : undefined;
      }
      if (!token || !digestEquals(sha256(token), sha256(expected))) return forbidden(c, 'missing or wrong CSRF token');
      await next();
    }) as MiddlewareHandler<DashEnv>,
  };
}

export type SessionAuth = ReturnType<typeof sessionAuth>;

/** Runs middleware in order as one; the first that answers (a 401, a 403) ends the request. */
export function chain(...handlers: Array<MiddlewareHandler<DashEnv>>): MiddlewareHandler<DashEnv> {
  return async function chained(c, next) {
    const run = async (i: number): Promise<Response | void> => {
      if (i === handlers.length) {
        await next();
        return;
      }
      return handlers[i]!(c, async () => {
        const answered = await run(i + 1);
        if (answered instanceof Response) c.res = answered;
      });
    };
    return run(0);
  };
}

/** The kinds of dashboard route: a page, a static asset only a session may load, the live stream, and an action that changes state. */
export function dashboardGuards(auth: SessionAuth) {
  return {
    page: chain(auth.passwordGate, auth.requireSession(true)),
    asset: chain(auth.passwordGate, auth.requireSession(false)),
    stream: chain(auth.passwordGate, auth.requireSession(false), auth.requireSameOrigin),
    /**
     * The body is limited (16 KiB unless said) only after the session and origin checks: a caller without them learns
     * 401 or 403, not which routes exist. Before the CSRF check, which reads it.
     */
    action: (maxBytes = 16 * 1024) =>
      chain(auth.passwordGate, auth.requireSession(false), auth.requireSameOrigin, bodyLimit({ maxSize: maxBytes }) as MiddlewareHandler<DashEnv>, auth.requireCsrf),
  };
}
export { CSRF_FIELD };
