import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { backendNames, settingsOf, type AssistantSettings } from '../../../core/assistant-settings.js';
import type { AuditInput } from '../../../core/audit.js';
import { assistantSchema, LIFECYCLE_EVENTS, type LifecycleEvent } from '../../../core/config.js';
import type { DashEnv } from '../session-auth.js';
import {
  checkAssistantForm,
  checkingServices,
  fallbackField,
  formFromBody,
  formFromSettings,
  MAX_FALLBACKS,
  type AssistantForm,
} from './assistant-form.js';
import { WEB_ACTOR, type DashApp, type DashContext, type DashboardDeps } from './deps.js';
import { ErrorSummary, SelectField, TextArea, TextField, type FieldErrors } from './fields.js';
import { Csrf, notFoundPage, Page, render } from './layout.js';
import { formBody } from '../form.js';

/** A system prompt of 100,000 characters, percent-encoded (up to 9 bytes each), plus the other fields. */
const MAX_BODY = 9 * 100_000 + 64 * 1024;
const NAME_PARAM = ':name{[A-Za-z0-9_.\\-]{1,64}}';

type Source = 'config' | 'edited' | 'dashboard';
const SOURCE_LABEL: Record<Source, string> = { config: 'config file', edited: 'config file, edited in dashboard', dashboard: 'made in dashboard' };

interface Listed {
  name: string;
  source: Source;
  /** What runs; absent for a dashboard-made assistant whose stored settings no longer validate. */
  settings?: AssistantSettings;
  /** Why the stored settings are not used. */
  problem?: string;
  updatedAt?: string;
}

const STAGE_HINT: Record<LifecycleEvent, string> = {
  inbound: 'First, on every message: who may talk, limits, redaction.',
  request: 'With the session known, before the backend is called (e.g. budget).',
  response: "On the backend's reply.",
  outbound: 'On the reply as it leaves.',
};

/** Each field's label, in the form's order. */
const LABELS: Record<string, string> = {
  name: 'Name',
  systemPrompt: 'System prompt',
  backend: 'Primary backend',
  ...Object.fromEntries(Array.from({ length: MAX_FALLBACKS }, (_, i) => [fallbackField(i), `Fallback backend ${i + 1}`])),
  fallback: 'When the primary fails',
  model: 'Model',
  ...Object.fromEntries(LIFECYCLE_EVENTS.map((e) => [e, `${e[0]!.toUpperCase()}${e.slice(1)} pipeline`])),
};

/** The config file's assistants (with any dashboard settings), then those made in the dashboard. */
async function catalogue(deps: DashboardDeps): Promise<Listed[]> {
  const saved = await deps.store.settingsStore().savedAssistants();
  const rows = new Map(saved.map((r) => [r.name, r]));
  const out: Listed[] = Object.entries(deps.config.assistants).map(([name, a]) => {
    const row = rows.get(name);
    if (row && 'settings' in row) return { name, source: 'edited', settings: row.settings, updatedAt: row.updatedAt };
    return { name, source: 'config', settings: settingsOf(a), ...(row && 'error' in row ? { problem: row.error } : {}) };
  });
  for (const row of saved) {
    if (deps.config.assistants[row.name]) continue;
    out.push({ name: row.name, source: 'dashboard', updatedAt: row.updatedAt, ...('settings' in row ? { settings: row.settings } : { problem: row.error }) });
  }
  return out;
}

const pipelineNames = (s: AssistantSettings, stage: LifecycleEvent) => s.pipelines[stage].map((p) => (typeof p === 'string' ? p : p.plug));

/** What an audit entry says about settings: names and choices, the prompt only by its length. */
const auditSummary = (s: AssistantSettings) => ({
  backend: s.backend,
  model: s.model ?? null,
  fallback: s.fallback,
  pipelines: Object.fromEntries(LIFECYCLE_EVENTS.map((e) => [e, pipelineNames(s, e)])),
  systemPromptChars: s.systemPrompt.length,
});

const changedKeys = (before: AssistantSettings, after: AssistantSettings): string[] => {
  const keys = ['systemPrompt', 'backend', 'model', 'fallback'] as const;
  return [
    ...keys.filter((k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null)),
    ...LIFECYCLE_EVENTS.filter((e) => JSON.stringify(before.pipelines[e]) !== JSON.stringify(after.pipelines[e])).map((e) => `pipelines.${e}`),
  ];
};

function AssistantList({ list }: { list: Listed[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>assistant</th>
            <th>backends</th>
            <th>model</th>
            <th>defined in</th>
          </tr>
        </thead>
        <tbody>
          {list.map((a) => (
            <tr>
              <td>
                <a href={`/assistants/${a.name}/edit`} class="mono">
                  {a.name}
                </a>
              </td>
              <td class="mono">{a.settings ? a.settings.backend.join(' → ') : '—'}</td>
              <td class="mono">{a.settings?.model ?? '—'}</td>
              <td>
                {SOURCE_LABEL[a.source]}
                {a.problem ? <span class="field-error"> (stored settings unusable: {a.problem})</span> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AssistantFormView(props: { form: AssistantForm; errors: FieldErrors; creating: boolean; backends: string[]; plugs: string[]; csrf: string }) {
  const { form, errors, creating, backends, plugs, csrf } = props;
  const choices = backends.map((b) => ({ value: b, label: b }));
  const slots = Math.max(Math.min(MAX_FALLBACKS, Math.max(1, backends.length - 1)), form.fallbacks.findLastIndex((f) => f !== '') + 1);
  return (
    <form method="post" action={creating ? '/assistants' : `/assistants/${form.name}`} class="stack" novalidate>
      <Csrf token={csrf} />
      <ErrorSummary errors={errors} labels={LABELS} />
      {creating ? (
        <TextField name="name" label={LABELS.name!} value={form.name} required maxlength={64} error={errors.name} hint="Letters, digits, dots, dashes and underscores, up to 64; it is also the API's model id." />
      ) : null}
      <TextArea name="systemPrompt" label={LABELS.systemPrompt!} value={form.systemPrompt} required maxlength={100_000} rows={8} error={errors.systemPrompt} />
      <fieldset>
        <legend>Backends</legend>
        <p class="muted">Chosen by name from the config file's backends; their URLs, commands and keys are set there only.</p>
        <SelectField name="backend" label={LABELS.backend!} value={form.backend} options={choices} error={errors.backend} />
        {Array.from({ length: slots }, (_, i) => (
          <SelectField
            name={fallbackField(i)}
            label={LABELS[fallbackField(i)]!}
            value={form.fallbacks[i] ?? ''}
            options={[{ value: '', label: '(none)' }, ...choices]}
            error={errors[fallbackField(i)]}
            {...(i === 0 ? { hint: 'Tried in order when the one before times out, fails or is rate-limited.' } : {})}
          />
        ))}
        <SelectField
          name="fallback"
          label={LABELS.fallback!}
          value={form.fallback}
          options={[
            { value: 'auto', label: 'auto: the next backend answers' },
            { value: 'ask', label: 'ask: the user replies /fallback first' },
          ]}
          error={errors.fallback}
        />
        <TextField name="model" label={LABELS.model!} value={form.model} maxlength={200} error={errors.model} hint="Optional: overrides the primary backend's model; fallbacks keep their own." />
      </fieldset>
      <fieldset>
        <legend>Plug pipelines</legend>
        <p class="muted" id="pipelines-help">
          Plug names in order, separated by commas. Known plugs: {plugs.join(', ')}. A pipeline whose plugs take options is written as JSON, e.g.{' '}
          <code>{'[{"plug": "rate-limit", "perSender": 10}, "access"]'}</code>.
        </p>
        {LIFECYCLE_EVENTS.map((stage) => (
          <TextField name={stage} label={LABELS[stage]!} value={form.pipelines[stage]} maxlength={16_000} error={errors[stage]} hint={STAGE_HINT[stage]} />
        ))}
      </fieldset>
      <p>
        <button type="submit">{creating ? 'Create assistant' : 'Save changes'}</button>
      </p>
    </form>
  );
}

/**
 * `/assistants`: every assistant with where it is defined; creating one and editing any, stored in SQLite on top of
 * the config file (which is never rewritten). Workers pick a change up from the next message.
 */
export function assistantRoutes(app: DashApp, ctx: DashContext): void {
  const { deps } = ctx;
  const settings = () => deps.store.settingsStore();
  const services = checkingServices(deps.config);
  const backends = backendNames(deps.config);
  const plugNames = [...deps.plugs.keys()];
  const audit = (kind: string, subject: string, data: Record<string, unknown>): AuditInput[] => [{ kind, actor: WEB_ACTOR, subject, data }];
  const find = async (name: string) => (await catalogue(deps)).find((a) => a.name === name);

  const formPage = (c: Context<DashEnv>, title: string, form: AssistantForm, errors: FieldErrors, creating: boolean, extra?: Child) => {
    const session = c.get('session');
    return render(
      c,
      <Page title={title} path="/assistants" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <p>
          <a href="/assistants">All assistants</a>
        </p>
        {extra}
        <AssistantFormView form={form} errors={errors} creating={creating} backends={backends} plugs={plugNames} csrf={session.csrfToken} />
      </Page>,
      Object.keys(errors).length ? 400 : 200,
    );
  };

  app.get('/assistants', ctx.guard.page, async (c) => {
    const session = c.get('session');
    return render(
      c,
      <Page title="Assistants" path="/assistants" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <p>
          <a href="/assistants/new">New assistant</a>
        </p>
        <AssistantList list={await catalogue(deps)} />
        <p class="muted">
          Changes are kept in the gateway's database, never written to the config file; each worker uses them from its next message. A
          dashboard edit of an assistant from the config file wins over the file until it is reset.
        </p>
      </Page>,
    );
  });

  app.get('/assistants/new', ctx.guard.page, (c) => formPage(c, 'New assistant', formFromSettings('', settingsOf(assistantSchema.parse({}))), {}, true));

  app.post('/assistants', ctx.guard.action(MAX_BODY), async (c) => {
    const body = await formBody(c);
    const form = formFromBody(body, typeof body.name === 'string' ? body.name.trim() : '');
    const taken = new Set((await catalogue(deps)).map((a) => a.name));
    const checked = checkAssistantForm(form, { config: deps.config, plugs: deps.plugs, services, taken });
    if ('errors' in checked) return formPage(c, 'New assistant', form, checked.errors, true);
    const saved = await settings().saveAssistant(form.name, checked.settings, { create: true }, audit('assistant.created', form.name, auditSummary(checked.settings)));
    if (saved === 'exists') return formPage(c, 'New assistant', form, { name: `an assistant named "${form.name}" already exists` }, true);
    ctx.flash.set(c.get('session').idHash, `Assistant ${form.name} created. It answers from the next message that is routed to it.`);
    return c.redirect('/assistants', 303);
  });

  const Origin = ({ a, csrf }: { a: Listed; csrf: string }) => (
    <>
      <p>
        Defined in: <strong>{SOURCE_LABEL[a.source]}</strong>
        {a.updatedAt ? <span class="muted"> · last saved {a.updatedAt}</span> : null}
      </p>
      {a.problem ? <p class="notice bad">The stored settings are not used: {a.problem}</p> : null}
      {a.source === 'edited' || (a.source === 'config' && a.problem) ? (
        <form method="post" action={`/assistants/${a.name}/reset`} class="row">
          <Csrf token={csrf} />
          <button type="submit" class="secondary">
            Reset to the config file
          </button>
          <span class="muted">Drops the dashboard's settings; the config file's apply from the next message.</span>
        </form>
      ) : null}
      {a.source === 'dashboard' ? (
        <form method="post" action={`/assistants/${a.name}/delete`} class="row">
          <Csrf token={csrf} />
          <button type="submit" class="secondary">
            Delete assistant
          </button>
          <span class="muted">Refused while a workspace answers with it.</span>
        </form>
      ) : null}
      {a.source !== 'dashboard' ? <p class="muted">Tool rules and the fallback label, if any, come from the config file.</p> : null}
    </>
  );

  app.get(`/assistants/${NAME_PARAM}/edit`, ctx.guard.page, async (c) => {
    const a = await find(c.req.param('name'));
    if (!a) return notFoundPage(c, c.get('session').csrfToken, 'No such assistant.');
    const start = a.settings ?? settingsOf(assistantSchema.parse({}));
    return formPage(c, `Assistant ${a.name}`, formFromSettings(a.name, start), {}, false, <Origin a={a} csrf={c.get('session').csrfToken} />);
  });

  app.post(`/assistants/${NAME_PARAM}`, ctx.guard.action(MAX_BODY), async (c) => {
    const a = await find(c.req.param('name'));
    if (!a) return c.text('No such assistant.', 404);
    const form = formFromBody(await formBody(c), a.name);
    const checked = checkAssistantForm(form, { config: deps.config, plugs: deps.plugs, services });
    if ('errors' in checked) return formPage(c, `Assistant ${a.name}`, form, checked.errors, false, <Origin a={a} csrf={c.get('session').csrfToken} />);
    const changed = a.settings ? changedKeys(a.settings, checked.settings) : ['all'];
    const session = c.get('session');
    if (changed.length === 0) {
      ctx.flash.set(session.idHash, `Nothing changed in ${a.name}.`);
      return c.redirect(`/assistants/${a.name}/edit`, 303);
    }
    await settings().saveAssistant(a.name, checked.settings, { create: false }, audit('assistant.updated', a.name, { changed, ...auditSummary(checked.settings) }));
    ctx.flash.set(session.idHash, `Assistant ${a.name} saved (${changed.join(', ')}). Workers use it from the next message.`);
    return c.redirect(`/assistants/${a.name}/edit`, 303);
  });

  app.post(`/assistants/${NAME_PARAM}/reset`, ctx.guard.action(), async (c) => {
    const name = c.req.param('name');
    const session = c.get('session');
    if (!deps.config.assistants[name]) return c.text('Only an assistant from the config file can be reset to it.', 400);
    const reset = await settings().resetAssistant(name, audit('assistant.reset', name, {}));
    ctx.flash.set(session.idHash, reset ? `Assistant ${name} reset to the config file.` : `Assistant ${name} has no dashboard settings to reset.`, reset);
    return c.redirect(`/assistants/${name}/edit`, 303);
  });

  app.post(`/assistants/${NAME_PARAM}/delete`, ctx.guard.action(), async (c) => {
    const name = c.req.param('name');
    const session = c.get('session');
    if (deps.config.assistants[name]) return c.text('An assistant from the config file is removed from the file; the dashboard can only reset its edits.', 400);
    if (!(await find(name))) return c.text('No such assistant.', 404);
    const { deleted, usedBy } = await settings().deleteAssistant(name, audit('assistant.deleted', name, {}));
    if (!deleted) {
      ctx.flash.set(session.idHash, `Assistant ${name} still answers in workspace ${usedBy.join(', ')}: choose another assistant there first.`, false);
      return c.redirect(`/assistants/${name}/edit`, 303);
    }
    ctx.flash.set(session.idHash, `Assistant ${name} deleted.`);
    return c.redirect('/assistants', 303);
  });
}
