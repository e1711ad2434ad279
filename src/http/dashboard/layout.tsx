import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from '../session-auth.js';

const NAV = [
  ['/', 'Overview'],
  ['/conversations', 'Conversations'],
  ['/assistants', 'Assistants'],
  ['/workspaces', 'Workspaces'],
  ['/governance', 'Governance'],
  ['/audit', 'Audit'],
  ['/chat', 'Web chat'],
  ['/linking', 'Linking'],
] as const;

/** Scripts and styles come only from the gateway itself; nothing inline, nothing from elsewhere. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function Csrf({ token }: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={token} />;
}

function Shell({ title, csrf, head, children }: { title: string; csrf?: string | undefined; head?: Child; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {/* The server says no-referrer; same-origin lets the browser name this origin on its own POSTs. */}
        <meta name="referrer" content="same-origin" />
        {csrf ? <meta name="csrf-token" content={csrf} /> : null}
        <title>{`${title} · MonkeyClaw`}</title>
        {head}
        <link rel="stylesheet" href="/assets/dashboard.css" />
        <script src="/assets/dashboard.js" defer></script>
      </head>
      <body>{children}</body>
    </html>
  );
}

export interface PageProps {
  title: string;
  path: string;
  csrf: string;
  notice?: { text: string; ok: boolean } | undefined;
  /** Extra stylesheets and scripts, loaded before the dashboard's own (deferred scripts run in order). */
  head?: Child;
  children: Child;
}

/** Every logged-in page: navigation, a status line for the last action, the page, and logout. */
export function Page({ title, path, csrf, notice, head, children }: PageProps) {
  return (
    <Shell title={title} csrf={csrf} head={head}>
      <header>
        <nav aria-label="Dashboard">
          <span class="brand">MonkeyClaw</span>
          {NAV.map(([href, label]) => (
            <a href={href} aria-current={href === path ? 'page' : undefined}>
              {label}
            </a>
          ))}
          <form method="post" action="/logout" class="inline">
            <Csrf token={csrf} />
            <button type="submit">Log out</button>
          </form>
        </nav>
      </header>
      <main>
        <h1>{title}</h1>
        {notice ? (
          <p role={notice.ok ? 'status' : 'alert'} class={notice.ok ? 'notice ok' : 'notice bad'}>
            {notice.text}
          </p>
        ) : null}
        {children}
      </main>
    </Shell>
  );
}

export function Bare({ title, children }: { title: string; children: Child }) {
  return (
    <Shell title={title}>
      <main class="narrow">{children}</main>
    </Shell>
  );
}

/** Sends a page: doctype, no caching, and the strict content security policy. */
export async function render(c: Context, node: Child, status: 200 | 400 | 404 | 409 | 429 = 200): Promise<Response> {
  c.header('cache-control', 'no-store');
  c.header('content-security-policy', CSP);
  const html = await (node as { toString(): string | Promise<string> }).toString();
  return c.html(`<!DOCTYPE html>${html}`, status);
}

/**
 * A signed-in owner's browser at an address that is no page, or names what does not exist (`/conversations/99999`):
 * a page that says so, with the way back.
 */
export const notFoundPage = (c: Context, csrf: string, what = 'There is no page at this address.'): Promise<Response> =>
  render(
    c,
    <Page title="Not found" path="" csrf={csrf}>
      <p>
        {what} <a href="/">Back to the overview</a>
      </p>
    </Page>,
    404,
  );
