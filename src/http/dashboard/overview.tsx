import type { Child } from 'hono/jsx';
import { streamSSE } from 'hono/streaming';
import { doctorTargets } from './connectors.js';
import type { DashApp, DashContext } from './deps.js';
import { Csrf, Page, render } from './layout.js';
import type { ProcessRow, Snapshot } from './snapshot.js';
import { vendorAssets } from './vendor.js';

const SNAPSHOT_EVERY_MS = 1_000;
const MAX_STREAMS = 32;
/** A year: the asset's URL names its content, so a new version is a new URL. */
const IMMUTABLE = 'private, max-age=31536000, immutable';

/** A figure as text; the client writes the same from each snapshot (null: nothing to measure yet). */
const figure = (v: number | null): string => (v === null ? '—' : String(v));

function Table({ caption, id, heads, rows }: { caption: string; id: string; heads: string[]; rows: Array<Array<string | number>> }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class="muted">{caption}</caption>
        <thead>
          <tr>{heads.map((h, i) => <th class={i > 0 && typeof rows[0]?.[i] === 'number' ? 'num' : undefined}>{h}</th>)}</tr>
        </thead>
        <tbody id={id}>
          {rows.map((r) => (
            <tr>{r.map((v) => <td class={typeof v === 'number' ? 'num' : undefined}>{String(v)}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One row per supervised process; the client updates the cells marked `data-col` in place. */
function Processes({ rows, doctor, csrf }: { rows: ProcessRow[]; doctor: ReadonlySet<string>; csrf: string }) {
  if (rows.length === 0) return <p>No supervised processes (the gateway runs them under `monkeyclaw start`).</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="muted">Supervised processes: state, last error, messages received and sent</caption>
        <thead>
          <tr>
            <th>process</th>
            <th>state</th>
            <th>last error</th>
            <th>at</th>
            <th class="num">in</th>
            <th class="num">out</th>
            <th>doctor</th>
          </tr>
        </thead>
        <tbody id="process-rows">
          {rows.map((p) => {
            const connector = p.name.startsWith('connector:') ? p.name.slice('connector:'.length) : undefined;
            return (
              <tr data-process={p.name}>
                <td>{connector && doctor.has(connector) ? <a href={`/connectors/${connector}`}>{p.name}</a> : p.name}</td>
                <td data-col="state" class={/^[a-z]+$/.test(p.state) ? `state-${p.state}` : undefined}>
                  {p.state}
                </td>
                <td data-col="error" class="error-text">
                  {p.lastError?.text ?? '—'}
                </td>
                <td data-col="errorAt" class="muted">
                  {p.lastError?.at ?? ''}
                </td>
                <td data-col="in" class="num">
                  {p.in ?? ''}
                </td>
                <td data-col="out" class="num">
                  {p.out ?? ''}
                </td>
                <td>
                  {connector && doctor.has(connector) ? (
                    <form method="post" action={`/connectors/${connector}/doctor`} class="inline">
                      <Csrf token={csrf} />
                      <button type="submit" class="secondary" aria-label={`Run doctor for ${connector}`}>
                        Doctor
                      </button>
                    </form>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** A chart drawn by uPlot in the browser, with its figures in words beside it for anyone who does not see it. */
function Chart({ label, id, children }: { label: string; id: string; children: Child }) {
  return (
    <figure class="chart" aria-label={label}>
      <h2>{label}</h2>
      <div class="plot" id={id} aria-hidden="true"></div>
      <figcaption>{children}</figcaption>
    </figure>
  );
}

function Overview({ s, doctor, csrf }: { s: Snapshot; doctor: ReadonlySet<string>; csrf: string }) {
  return (
    <>
      <p class="muted">
        Updated <span data-field="at">{s.at}</span> · <span id="live-status">static</span>
      </p>
      <div class="cards">
        <section class="card" aria-labelledby="in-h">
          <h2 id="in-h">Messages in</h2>
          <div class="big" data-field="totals.in">{s.totals.in}</div>
        </section>
        <section class="card" aria-labelledby="out-h">
          <h2 id="out-h">Messages out</h2>
          <div class="big" data-field="totals.out">{s.totals.out}</div>
        </section>
        <section class="card" aria-labelledby="dead-h">
          <h2 id="dead-h">Dead letters</h2>
          <div class="big" data-field="deadLetters">{s.deadLetters}</div>
          <p class="muted">Retry with monkeyclaw dlq retry</p>
        </section>
      </div>
      <div class="charts">
        <Chart label="Throughput" id="chart-throughput">
          Messages per 5 seconds. Last 5 minutes: <span data-field="recent.in">{s.recent.in}</span> in,{' '}
          <span data-field="recent.out">{s.recent.out}</span> out.
        </Chart>
        <Chart label="Reply latency" id="chart-latency">
          From receipt to the first reply sent, p50 and p95 per 5 seconds. Last 5 minutes: p50{' '}
          <span data-field="recent.p50">{figure(s.recent.p50)}</span> ms, p95 <span data-field="recent.p95">{figure(s.recent.p95)}</span> ms over{' '}
          <span data-field="recent.replies">{s.recent.replies}</span> replies.
        </Chart>
      </div>
      <h2>Processes</h2>
      <Processes rows={s.children} doctor={doctor} csrf={csrf} />
      <h2>Queues</h2>
      <Table
        caption="Queue depths"
        id="queue-rows"
        heads={['queue', 'waiting', 'active', 'dead']}
        rows={s.queues.map((q) => [q.name, q.waiting, q.active, q.dead])}
      />
      <h2>By platform</h2>
      <Table caption="Messages received and sent per platform" id="platform-rows" heads={['platform', 'in', 'out']} rows={s.platforms.map((p) => [p.platform, p.in, p.out])} />
    </>
  );
}

/**
 * `/` and its live feed `/events`: a fresh snapshot every second for as long as the session lasts. The charts'
 * library is served from here, only to a session, at a URL named by its content.
 */
export function overviewRoutes(app: DashApp, ctx: DashContext): void {
  const { snapshots } = ctx;
  const { uplotJs, uplotCss } = vendorAssets();
  const doctor = doctorTargets(ctx.deps);
  let open = 0;

  for (const asset of [uplotJs, uplotCss]) {
    app.get(asset.path, ctx.guard.asset, (c) => c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': IMMUTABLE }));
  }

  app.get('/', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const s = await snapshots.get();
    const head = (
      <>
        <link rel="stylesheet" href={uplotCss.path} integrity={uplotCss.integrity} />
        <script src={uplotJs.path} integrity={uplotJs.integrity} defer></script>
      </>
    );
    return render(
      c,
      <Page title="Overview" path="/" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)} head={head}>
        <Overview s={s} doctor={doctor} csrf={session.csrfToken} />
      </Page>,
    );
  });

  app.get('/events', ctx.guard.stream, async (c) => {
    if (open >= MAX_STREAMS) return c.text('Too many live views open.', 429);
    c.header('cache-control', 'no-store');
    open++;
    const { stopping } = ctx.deps;
    return streamSSE(c, async (stream) => {
      // A shutdown ends the stream at once: open, it kept the HTTP server from closing until it was cut at 7.5 s.
      let wake = () => {};
      const stop = () => wake();
      stopping?.addEventListener('abort', stop, { once: true });
      try {
        while (!stream.aborted && !stream.closed && !stopping?.aborted) {
          // A logout (or a new password) ends the stream too.
          if (!(await ctx.session.current(c))) break;
          await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(await snapshots.get()) });
          await Promise.race([stream.sleep(SNAPSHOT_EVERY_MS), new Promise<void>((resolve) => (wake = resolve))]);
        }
      } catch {
        // The stream just ends (no error text goes out); EventSource reconnects by itself.
      } finally {
        stopping?.removeEventListener('abort', stop);
        open--;
      }
    });
  });
}
