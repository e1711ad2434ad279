import { raw } from 'hono/html';
import { renderWhole } from '../../../core/render/index.js';
import { WORKSPACE_NAME, type ChannelMessage, type ChannelSummary } from '../../../core/sqlite/dashboard-queries.js';
import { WEB_ACTOR, type DashApp, type DashContext } from './deps.js';
import { Csrf, notFoundPage, Page, render } from './layout.js';
import { formBody } from '../form.js';

const HISTORY_LIMIT = 200;

function ChannelTable({ platform, channels }: { platform: string; channels: ChannelSummary[] }) {
  return (
    <section aria-labelledby={`p-${platform}`}>
      <h2 id={`p-${platform}`}>{platform}</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>conversation</th>
              <th>kind</th>
              <th>workspace</th>
              <th class="num">messages</th>
              <th>last message</th>
            </tr>
          </thead>
          <tbody>
            {channels.map((ch) => (
              <tr>
                <td>
                  <a href={`/conversations/${ch.id}`} class="mono">
                    {ch.conversationId}
                  </a>
                </td>
                <td>{ch.kind}</td>
                <td>{ch.workspaceId}</td>
                <td class="num">{ch.messages}</td>
                <td class="muted">{ch.lastAt ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** A backend's markdown is shown rendered (core/render/html.ts: every text node escaped); anything else as typed. */
export function Message({ m }: { m: Pick<ChannelMessage, 'role' | 'text' | 'format' | 'at'> }) {
  return (
    <div class={`msg msg-${m.role}`}>
      <span class="who">
        {m.role === 'user' ? 'user' : 'assistant'} · {m.at}
      </span>
      {m.format === 'markdown' ? <div class="text">{raw(renderWhole(m.text, 'markdown', 'html'))}</div> : <p class="text">{m.text}</p>}
    </div>
  );
}

function ChannelView({ ch, history, workspaces, csrf }: { ch: ChannelSummary; history: ChannelMessage[]; workspaces: string[]; csrf: string }) {
  return (
    <>
      <p>
        <span class="mono">
          {ch.platform}:{ch.conversationId}
        </span>{' '}
        · {ch.kind} · workspace <strong>{ch.workspaceId}</strong>
      </p>
      <form method="post" action={`/conversations/${ch.id}/workspace`} class="row">
        <Csrf token={csrf} />
        <label>
          Move to workspace
          <input name="workspace" list="workspaces" required pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" value={ch.workspaceId} />
        </label>
        <datalist id="workspaces">
          {workspaces.map((w) => (
            <option value={w} />
          ))}
        </datalist>
        <button type="submit">Move</button>
      </form>
      <p class="muted">Moving starts new sessions in the chosen workspace; earlier history stays where it was.</p>
      <h2>History</h2>
      <p class="muted">The latest {HISTORY_LIMIT} messages of every session of this conversation.</p>
      <div class="transcript">
        {history.length === 0 ? <p class="muted">No messages yet.</p> : history.map((m) => <Message m={m} />)}
      </div>
    </>
  );
}

/** Channels by platform with their workspace, one conversation's history, and moving a channel. */
export function conversationRoutes(app: DashApp, ctx: DashContext): void {
  const queries = () => ctx.deps.store.dashboardQueries();

  app.get('/conversations', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const byPlatform = new Map<string, ChannelSummary[]>();
    for (const ch of await queries().channels()) byPlatform.set(ch.platform, [...(byPlatform.get(ch.platform) ?? []), ch]);
    return render(
      c,
      <Page title="Conversations" path="/conversations" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        {byPlatform.size === 0 ? <p>No conversations yet.</p> : [...byPlatform].map(([platform, channels]) => <ChannelTable platform={platform} channels={channels} />)}
      </Page>,
    );
  });

  app.get('/conversations/:id{[0-9]{1,15}}', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const ch = await queries().channel(Number(c.req.param('id')));
    if (!ch) return notFoundPage(c, c.get('session').csrfToken, 'No such conversation.');
    const [history, workspaces] = await Promise.all([queries().channelHistory(ch.id, HISTORY_LIMIT), queries().workspaces()]);
    return render(
      c,
      <Page title="Conversation" path="/conversations" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <ChannelView ch={ch} history={history} workspaces={workspaces} csrf={session.csrfToken} />
      </Page>,
    );
  });

  app.post('/conversations/:id{[0-9]{1,15}}/workspace', ctx.guard.action(), async (c) => {
    const session = c.get('session');
    const id = Number(c.req.param('id'));
    const field = (await formBody(c)).workspace;
    const workspace = typeof field === 'string' ? field.trim() : '';
    const back = `/conversations/${id}`;
    if (!WORKSPACE_NAME.test(workspace)) {
      ctx.flash.set(session.idHash, 'A workspace name is 1–64 letters, digits, dots, dashes or underscores.', false);
      return c.redirect(back, 303);
    }
    const ch = await queries().channel(id);
    const audit = ({ from, to, created }: { from: string; to: string; created: boolean }) => [
      ...(created ? [{ kind: 'workspace.created', actor: WEB_ACTOR, subject: to }] : []),
      { kind: 'channel.moved', actor: WEB_ACTOR, subject: `${ch!.platform}:${ch!.conversationId}`, data: { from, to } },
    ];
    const moved = ch && (await queries().moveChannel(id, workspace, audit));
    if (!ch || !moved) return c.text('No such conversation.', 404);
    const { from, to, created } = moved;
    const made = created ? ` (workspace ${to} is new)` : '';
    ctx.flash.set(session.idHash, from === to ? `Already in workspace ${workspace}.` : `Moved from ${from} to ${to}${made}.`);
    return c.redirect(back, 303);
  });
}
