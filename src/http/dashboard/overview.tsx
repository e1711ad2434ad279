import { streamSSE } from 'hono/streaming';
import type { DashApp, DashContext } from './deps.js';
import { Page, render } from './layout.js';
import { SnapshotSource, sparkPoints, type Snapshot } from './snapshot.js';

const SNAPSHOT_EVERY_MS = 1_000;
const MAX_STREAMS = 32;

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
            <tr>{r.map((v, i) => <td class={typeof v === 'number' ? 'num' : i === 1 && /^[a-z]+$/.test(v) ? `state-${v}` : undefined}>{String(v)}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Spark({ label, id, cls, values }: { label: string; id: string; cls: string; values: number[] }) {
  return (
    <svg class="spark" viewBox="0 0 300 40" preserveAspectRatio="none" role="img" aria-label={label}>
      <polyline id={id} class={cls} points={sparkPoints(values)} />
    </svg>
  );
}

function Overview({ s }: { s: Snapshot }) {
  return (
    <>
      <p class="muted">
        Updated <span data-field="at">{s.at}</span> · <span id="live-status">static</span>
      </p>
      <div class="cards">
        <section class="card" aria-labelledby="in-h">
          <h2 id="in-h">Messages in</h2>
          <div class="big" data-field="totals.in">{s.totals.in}</div>
          <Spark label="Messages in per 5 seconds, last 5 minutes" id="spark-in" cls="in" values={s.series.in} />
        </section>
        <section class="card" aria-labelledby="out-h">
          <h2 id="out-h">Messages out</h2>
          <div class="big" data-field="totals.out">{s.totals.out}</div>
          <Spark label="Messages out per 5 seconds, last 5 minutes" id="spark-out" cls="out" values={s.series.out} />
        </section>
        <section class="card" aria-labelledby="dead-h">
          <h2 id="dead-h">Dead letters</h2>
          <div class="big" data-field="deadLetters">{s.deadLetters}</div>
          <p class="muted">Retry with monkeyclaw dlq retry</p>
        </section>
      </div>
      <h2>Processes</h2>
      <Table caption="Supervised processes and their state" id="children-rows" heads={['process', 'state']} rows={s.children.map((c) => [c.name, c.state])} />
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

/** `/` and its live feed `/events`: a fresh snapshot every second for as long as the session lasts. */
export function overviewRoutes(app: DashApp, ctx: DashContext): void {
  const snapshots = new SnapshotSource(ctx.deps);
  let open = 0;

  app.get('/', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const s = await snapshots.get();
    return render(
      c,
      <Page title="Overview" path="/" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <Overview s={s} />
      </Page>,
    );
  });

  app.get('/events', ctx.guard.stream, async (c) => {
    if (open >= MAX_STREAMS) return c.text('Too many live views open.', 429);
    c.header('cache-control', 'no-store');
    open++;
    return streamSSE(c, async (stream) => {
      try {
        while (!stream.aborted && !stream.closed) {
          // A logout (or a new password) ends the stream too.
          if (!(await ctx.session.current(c))) break;
          await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(await snapshots.get()) });
          await stream.sleep(SNAPSHOT_EVERY_MS);
        }
      } catch {
        // The stream just ends (no error text goes out); EventSource reconnects by itself.
      } finally {
        open--;
      }
    });
  });
}
