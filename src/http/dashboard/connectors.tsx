import { AVAILABLE_CONNECTORS } from '../../connectors.js';
import type { DashApp, DashboardDeps, DashContext } from './deps.js';
import { DoctorRuns, type DoctorRun } from './doctor-runs.js';
import { Csrf, notFoundPage, Page, render } from './layout.js';

/** Each run makes network calls to the platform: at most one a connector every this often. */
const DOCTOR_COOLDOWN_MS = 10_000;
/** Beyond the runner's own deadline (25 s under `start`), so its plainer verdict usually wins. */
const DOCTOR_TIMEOUT_MS = 30_000;

/** The connectors whose doctor the dashboard can run: enabled in the config and built into this gateway. */
export function doctorTargets(deps: Pick<DashboardDeps, 'config' | 'doctor'>): ReadonlySet<string> {
  if (!deps.doctor) return new Set();
  return new Set(Object.entries(deps.config.connectors).flatMap(([name, c]) => (c?.enabled && AVAILABLE_CONNECTORS.has(name) ? [name] : [])));
}

function Verdicts({ connector, run }: { connector: string; run: DoctorRun }) {
  const failed = run.verdicts.filter((v) => !v.ok).length;
  return (
    <>
      <p class={failed ? 'notice bad' : 'notice ok'}>
        {failed ? `${failed} of ${run.verdicts.length} checks failed` : `All ${run.verdicts.length} checks passed`} · checked {run.at}
      </p>
      <ul class="verdicts" aria-label={`Doctor verdict for ${connector}`}>
        {run.verdicts.map((v) => (
          <li class={v.ok ? 'ok' : 'bad'}>
            <strong>{!v.ok ? 'FAIL' : v.warn ? 'WARN' : 'ok'}</strong> {v.what}: {v.detail}
          </li>
        ))}
      </ul>
    </>
  );
}

/**
 * `/connectors/<name>`: one connector's state, last error and traffic, and its `doctor` verdict, one click from
 * the overview. The check runs on a POST (it calls the platform), never on a page view.
 */
export function connectorRoutes(app: DashApp, ctx: DashContext): void {
  const targets = doctorTargets(ctx.deps);
  const runs = ctx.deps.doctor && new DoctorRuns(ctx.deps.doctor, { cooldownMs: DOCTOR_COOLDOWN_MS, timeoutMs: DOCTOR_TIMEOUT_MS, redact: ctx.redact, ...(ctx.deps.now ? { now: ctx.deps.now } : {}) });
  const NAME = '/connectors/:name{[a-z][a-z0-9-]{0,31}}';

  app.get(NAME, ctx.guard.page, async (c) => {
    const session = c.get('session');
    const name = c.req.param('name');
    if (!targets.has(name) || !runs) return notFoundPage(c, c.get('session').csrfToken, 'No such connector.');
    const row = (await ctx.snapshots.get()).children.find((p) => p.name === `connector:${name}`);
    const last = runs.latest(name);
    return render(
      c,
      <Page title={`Connector ${name}`} path="/" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <p>
          State: <strong class={row && /^[a-z]+$/.test(row.state) ? `state-${row.state}` : undefined}>{row?.state ?? 'not supervised'}</strong>
          {row ? ` · ${row.in ?? 0} messages in, ${row.out ?? 0} out` : ''}
        </p>
        <p>
          Last error: {row?.lastError ? <span class="error-text">{row.lastError.text}</span> : 'none'}
          {row?.lastError ? <span class="muted"> ({row.lastError.at})</span> : null}
        </p>
        <h2>Doctor</h2>
        <form method="post" action={`/connectors/${name}/doctor`} class="row">
          <Csrf token={session.csrfToken} />
          <button type="submit" aria-label={`Run doctor for ${name}`}>
            Run doctor
          </button>
        </form>
        {last ? <Verdicts connector={name} run={last} /> : <p>Not checked since the gateway started.</p>}
      </Page>,
    );
  });

  app.post(`${NAME}/doctor`, ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const name = c.req.param('name');
    if (!targets.has(name) || !runs) return c.text('No such connector.', 404);
    const { run, fresh } = await runs.run(name);
    const failed = run.verdicts.filter((v) => !v.ok).length;
    const words = failed ? `${failed} of ${run.verdicts.length} checks failed` : 'all checks passed';
    ctx.flash.set(session.idHash, fresh ? `Doctor for ${name}: ${words}.` : `Doctor for ${name} ran moments ago (${words}); wait a few seconds to run it again.`, !failed);
    return c.redirect(`/connectors/${name}`, 303);
  });
}
