import type { AuditEntry } from '../../../core/audit.js';
import { WEB_ACTOR, type DashApp, type DashContext } from './deps.js';
import { Csrf, Page, render } from './layout.js';

const PAGE_SIZE = 50;
const KIND = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_DATA_CHARS = 600;

function Entries({ entries }: { entries: AuditEntry[] }) {
  if (entries.length === 0) return <p>No entries.</p>;
  return (
    <div class="table-wrap" role="region" aria-label="Audit entries" tabindex={0}>
      <table class="wide">
        <thead>
          <tr>
            <th class="num">seq</th>
            <th>time</th>
            <th>kind</th>
            <th>actor</th>
            <th>subject</th>
            <th>data</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr>
              <td class="num">{e.seq}</td>
              <td class="muted">{e.at}</td>
              <td class="mono">{e.kind}</td>
              <td class="mono">{e.actor}</td>
              <td class="mono">{e.subject ?? ''}</td>
              <td>
                <code>{e.data.length > MAX_DATA_CHARS ? `${e.data.slice(0, MAX_DATA_CHARS)}…` : e.data}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The audit log, newest first, `PAGE_SIZE` a page, filtered by kind (exact or dotted prefix). The query string
 * carries only the filter and a sequence number to page from.
 */
export function auditRoutes(app: DashApp, ctx: DashContext): void {
  const { deps } = ctx;

  app.get('/audit', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const rawKind = (c.req.query('kind') ?? '').trim();
    const kind = KIND.test(rawKind) ? rawKind : undefined;
    const rawBefore = c.req.query('before') ?? '';
    const before = /^[1-9][0-9]{0,15}$/.test(rawBefore) ? Number(rawBefore) : undefined;
    const entries = await deps.store.dashboardQueries().auditPage({ ...(kind ? { kind } : {}), ...(before ? { before } : {}), limit: PAGE_SIZE + 1 });
    const shown = entries.slice(0, PAGE_SIZE);
    const older = entries.length > PAGE_SIZE ? `/audit?${new URLSearchParams({ ...(kind ? { kind } : {}), before: String(shown.at(-1)!.seq) })}` : undefined;
    return render(
      c,
      <Page title="Audit log" path="/audit" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <div class="row">
          <form method="get" action="/audit" class="row" role="search">
            <label>
              Kind
              <input name="kind" value={kind ?? ''} placeholder="e.g. pairing or inbound.received" pattern="[A-Za-z0-9_.\-]{1,64}" />
            </label>
            <button type="submit">Filter</button>
          </form>
          <form method="post" action="/audit/verify" class="row">
            <Csrf token={session.csrfToken} />
            <button type="submit">Verify chain</button>
          </form>
        </div>
        <Entries entries={shown} />
        <nav class="pager" aria-label="Audit pages">
          {before ? <a href={kind ? `/audit?${new URLSearchParams({ kind })}` : '/audit'}>Newest</a> : null}
          {older ? <a href={older}>Older</a> : null}
        </nav>
      </Page>,
    );
  });

  /** Walks the whole chain; a POST because it is costly, though it changes nothing but the log of who asked. */
  app.post('/audit/verify', ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const result = await deps.store.verifyAudit();
    await deps.store.appendAudit([{ kind: 'audit.verified', actor: WEB_ACTOR, data: { ok: result.ok, entries: result.entries } }]);
    ctx.flash.set(
      session.idHash,
      result.ok
        ? `Audit log ok: ${result.entries} entries, head ${result.head}.`
        : `Audit log BROKEN at entry ${result.badSeq}: ${result.reason} (${result.entries} entries verified before it).`,
      result.ok,
    );
    return c.redirect('/audit', 303);
  });
}
