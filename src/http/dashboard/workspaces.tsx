import type { Context } from 'hono';
import { z } from 'zod';
import { allAssistantNames } from '../../../core/assistant-settings.js';
import type { AuditInput } from '../../../core/audit.js';
import { WORKSPACE_NAME } from '../../../core/sqlite/dashboard-queries.js';
import type { WorkspaceFields, WorkspaceRecord } from '../../../core/sqlite/settings-store.js';
import type { DashEnv } from '../session-auth.js';
import { WEB_ACTOR, type DashApp, type DashContext } from './deps.js';
import { ErrorSummary, SelectField, TextField, type FieldErrors } from './fields.js';
import { Csrf, notFoundPage, Page, render } from './layout.js';
import { formBody } from '../form.js';

const ID_PARAM = ':id{[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}}';
const LABELS: Record<string, string> = { id: 'Workspace id', displayName: 'Display name', assistant: 'Default assistant' };
const NO_ASSISTANT = "(none: the connector's, else default)";

/** The workspace form as typed. */
interface WorkspaceForm {
  id: string;
  displayName: string;
  assistant: string;
}

const displayName = z
  .string()
  .trim()
  .max(100, { message: 'at most 100 characters' })
  .refine((s) => s.isWellFormed() && !/\p{Cc}/u.test(s), { message: 'no control characters' });

function check(form: WorkspaceForm, assistants: string[], creating: boolean): { fields: WorkspaceFields } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  if (creating && !WORKSPACE_NAME.test(form.id)) errors.id = '1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit';
  const name = displayName.safeParse(form.displayName);
  if (!name.success) errors.displayName = name.error.issues[0]!.message;
  if (form.assistant !== '' && !assistants.includes(form.assistant)) errors.assistant = `unknown assistant "${form.assistant.slice(0, 64)}"`;
  if (Object.keys(errors).length > 0 || !name.success) return { errors };
  return { fields: { displayName: name.data || null, assistant: form.assistant || null } };
}

function WorkspaceFormView({ form, errors, creating, assistants, csrf }: { form: WorkspaceForm; errors: FieldErrors; creating: boolean; assistants: string[]; csrf: string }) {
  return (
    <form method="post" action={creating ? '/workspaces' : `/workspaces/${form.id}`} class="stack" novalidate>
      <Csrf token={csrf} />
      <ErrorSummary errors={errors} labels={LABELS} />
      {creating ? (
        <TextField name="id" label={LABELS.id!} value={form.id} required maxlength={64} error={errors.id} hint="A short slug, e.g. research or family; it cannot be changed later." />
      ) : null}
      <TextField name="displayName" label={LABELS.displayName!} value={form.displayName} maxlength={100} error={errors.displayName} />
      <SelectField
        name="assistant"
        label={LABELS.assistant!}
        value={form.assistant}
        options={[{ value: '', label: NO_ASSISTANT }, ...assistants.map((a) => ({ value: a, label: a }))]}
        error={errors.assistant}
        hint="Answers this workspace's channels, unless the config file names an assistant for the channel itself."
      />
      <p>
        <button type="submit">{creating ? 'Create workspace' : 'Save changes'}</button>
      </p>
    </form>
  );
}

function WorkspaceList({ list }: { list: WorkspaceRecord[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th>workspace</th>
            <th>display name</th>
            <th>default assistant</th>
            <th class="num">channels</th>
          </tr>
        </thead>
        <tbody>
          {list.map((w) => (
            <tr>
              <td>
                <a href={`/workspaces/${w.id}/edit`} class="mono">
                  {w.id}
                </a>
              </td>
              <td>{w.displayName ?? ''}</td>
              <td class="mono">{w.assistant ?? '—'}</td>
              <td class="num">{w.channels}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const fieldsSummary = (f: WorkspaceFields) => ({ displayName: f.displayName, assistant: f.assistant });
const formOf = (body: Record<string, unknown>, id: string): WorkspaceForm => ({
  id,
  displayName: typeof body.displayName === 'string' ? body.displayName : '',
  assistant: typeof body.assistant === 'string' ? body.assistant : '',
});

/**
 * `/workspaces`: each workspace with its display name and the assistant that answers its channels by default;
 * creating and editing them. Channels are moved between workspaces on their conversation's page.
 */
export function workspaceRoutes(app: DashApp, ctx: DashContext): void {
  const { deps } = ctx;
  const settings = () => deps.store.settingsStore();
  const assistants = () => allAssistantNames(deps.config, settings());
  const audit = (kind: string, subject: string, data: Record<string, unknown>): AuditInput[] => [{ kind, actor: WEB_ACTOR, subject, data }];

  const listPage = async (c: Context<DashEnv>, form: WorkspaceForm, errors: FieldErrors) => {
    const session = c.get('session');
    return render(
      c,
      <Page title="Workspaces" path="/workspaces" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <WorkspaceList list={await settings().workspaces()} />
        <p class="muted">
          Which assistant answers a message: the config file's entry for that channel, else the one chosen in the terminal chat, web chat or API
          request, else the channel's workspace's, else the connector's, else default.
        </p>
        <h2>New workspace</h2>
        <WorkspaceFormView form={form} errors={errors} creating assistants={await assistants()} csrf={session.csrfToken} />
      </Page>,
      Object.keys(errors).length ? 400 : 200,
    );
  };

  const editPage = async (c: Context<DashEnv>, w: WorkspaceRecord, form: WorkspaceForm, errors: FieldErrors) => {
    const session = c.get('session');
    return render(
      c,
      <Page title={`Workspace ${w.id}`} path="/workspaces" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <p>
          <a href="/workspaces">All workspaces</a>
        </p>
        <p class="muted">
          {w.channels} {w.channels === 1 ? 'channel' : 'channels'} · created {w.createdAt}
          {w.updatedAt ? ` · last saved ${w.updatedAt}` : ''}
        </p>
        <WorkspaceFormView form={form} errors={errors} creating={false} assistants={await assistants()} csrf={session.csrfToken} />
      </Page>,
      Object.keys(errors).length ? 400 : 200,
    );
  };

  app.get('/workspaces', ctx.guard.page, (c) => listPage(c, { id: '', displayName: '', assistant: '' }, {}));

  app.post('/workspaces', ctx.guard.action(), async (c) => {
    const body = await formBody(c);
    const form = formOf(body, typeof body.id === 'string' ? body.id.trim() : '');
    const checked = check(form, await assistants(), true);
    if ('errors' in checked) return listPage(c, form, checked.errors);
    if (!(await settings().createWorkspace(form.id, checked.fields, audit('workspace.created', form.id, fieldsSummary(checked.fields))))) {
      return listPage(c, form, { id: `a workspace "${form.id}" already exists` });
    }
    ctx.flash.set(c.get('session').idHash, `Workspace ${form.id} created. Move conversations into it from their page.`);
    return c.redirect('/workspaces', 303);
  });

  app.get(`/workspaces/${ID_PARAM}/edit`, ctx.guard.page, async (c) => {
    const w = await settings().workspace(c.req.param('id'));
    if (!w) return notFoundPage(c, c.get('session').csrfToken, 'No such workspace.');
    return editPage(c, w, { id: w.id, displayName: w.displayName ?? '', assistant: w.assistant ?? '' }, {});
  });

  app.post(`/workspaces/${ID_PARAM}`, ctx.guard.action(), async (c) => {
    const w = await settings().workspace(c.req.param('id'));
    if (!w) return c.text('No such workspace.', 404);
    const form = formOf(await formBody(c), w.id);
    const checked = check(form, await assistants(), false);
    if ('errors' in checked) return editPage(c, w, form, checked.errors);
    const session = c.get('session');
    const changed = (['displayName', 'assistant'] as const).filter((k) => checked.fields[k] !== w[k]);
    if (changed.length === 0) {
      ctx.flash.set(session.idHash, `Nothing changed in ${w.id}.`);
      return c.redirect(`/workspaces/${w.id}/edit`, 303);
    }
    await settings().updateWorkspace(w.id, checked.fields, audit('workspace.updated', w.id, { changed, ...fieldsSummary(checked.fields) }));
    ctx.flash.set(session.idHash, `Workspace ${w.id} saved. Its channels use it from their next message.`);
    return c.redirect(`/workspaces/${w.id}/edit`, 303);
  });
}
