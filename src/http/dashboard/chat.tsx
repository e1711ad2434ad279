import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { allAssistantNames } from '../../../core/assistant-settings.js';
import { inboundText, MAX_TEXT_CHARS, type Reply } from '../../../core/event.js';
import { renderWhole } from '../../../core/render/index.js';
import type { ChannelMessage } from '../../../core/sqlite/dashboard-queries.js';
import { STOPPED_TEXT, type TurnOutcome } from '../turns.js';
import { Message } from './conversations.js';
import type { DashApp, DashContext } from './deps.js';
import { Csrf, Page, render } from './layout.js';
import { formBody } from '../form.js';

/** The owner in the browser is `web:admin`, with one conversation per assistant. */
const SENDER = { id: 'admin', name: 'admin', isBot: false } as const;
const conversationOf = (assistant: string) => `admin:${assistant}`;
/** 100,000 characters, percent-encoded (up to 9 bytes each) or JSON-escaped, plus the other fields. */
const MAX_BODY = 9 * MAX_TEXT_CHARS + 16 * 1024;

const messageSchema = z.object({
  assistant: z.string().min(1).max(64),
  // Longer than MAX_TEXT_CHARS is not refused here: it goes on, left out, for the notice every connector gives.
  text: z.string().min(1).refine((s) => s.isWellFormed() && s.trim().length > 0),
});

function ChatPage({ assistants, assistant, history, csrf }: { assistants: string[]; assistant: string; history: ChannelMessage[]; csrf: string }) {
  return (
    <>
      <form method="get" action="/chat" class="row">
        <label>
          Assistant
          <select name="assistant">
            {assistants.map((a) => (
              <option value={a} selected={a === assistant}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="secondary">
          Open
        </button>
      </form>
      <div id="transcript" class="transcript" aria-live="polite" aria-label={`Conversation with ${assistant}`}>
        {history.map((m) => (
          <Message m={m} />
        ))}
      </div>
      <form id="chat-form" method="post" action="/chat">
        <Csrf token={csrf} />
        <input type="hidden" name="assistant" value={assistant} />
        <label>
          Message <span class="muted">(Ctrl+Enter sends)</span>
          <textarea name="text" required></textarea>
        </label>
        <p>
          <button type="submit">Send</button>
        </p>
      </form>
    </>
  );
}

/** Told each draft of the reply as it is written, with how it is written. */
type Drafted = (text: string, format: Reply['format']) => void;

/**
 * Sends a turn as SSE: `draft` with the reply so far while the backend writes it, then the final `reply` (which
 * replaces the drafts) or a `notice`, then `done`.
 */
async function streamOutcome(c: Context, run: (onDraft: Drafted) => Promise<TurnOutcome>): Promise<Response> {
  return streamSSE(c, async (stream) => {
    let outcome: TurnOutcome;
    let sending = Promise.resolve();
    try {
      // Shown as the reply will be: a backend's markdown rendered as it grows, not its asterisks until the end.
      outcome = await run((text, format) => {
        sending = sending.then(() => stream.writeSSE({ event: 'draft', data: JSON.stringify(shown([{ text, format }])) }));
      });
    } catch {
      outcome = { kind: 'timeout' };
    }
    await sending;
    if (outcome.kind !== 'replies') {
      const why = unanswered(outcome.kind);
      await stream.writeSSE({ event: 'failure', data: JSON.stringify(why) });
    } else {
      const answer = outcome.replies.filter((r) => r.kind !== 'notice');
      for (const notice of outcome.replies.filter((r) => r.kind === 'notice')) await stream.writeSSE({ event: 'notice', data: JSON.stringify(notice.text) });
      if (answer.length > 0) await stream.writeSSE({ event: 'reply', data: JSON.stringify(shown(answer)) });
    }
    await stream.writeSSE({ event: 'done', data: 'null' });
  });
}

/**
 * Web chat: the owner talks to any assistant through TurnClient (platform `web`), the same queue, plugs, audit
 * and backends as every connector. With script the reply streams in over SSE; without, the form posts and the
 * page shows the history.
 */
export function chatRoutes(app: DashApp, ctx: DashContext): void {
  const { deps } = ctx;
  // Read per request: assistants made in the dashboard can be talked to at once.
  const names = () => allAssistantNames(deps.config, deps.store.settingsStore());
  const pick = (assistants: string[], name: string | undefined) =>
    name && assistants.includes(name) ? name : assistants.includes('default') ? 'default' : assistants[0]!;
  const ask = (assistant: string, text: string, onDraft?: Drafted) =>
    deps.turns.ask({ conversation: { id: conversationOf(assistant), kind: 'dm' }, sender: SENDER, ...inboundText(text), assistant }, onDraft);

  app.get('/chat', ctx.guard.page, async (c) => {
    const session = c.get('session');
    const assistants = await names();
    const assistant = pick(assistants, c.req.query('assistant'));
    const queries = deps.store.dashboardQueries();
    const channel = await queries.channelByConversation('web', conversationOf(assistant));
    const history = channel === undefined ? [] : await queries.channelHistory(channel, 100);
    return render(
      c,
      <Page title="Web chat" path="/chat" csrf={session.csrfToken} notice={ctx.flash.take(session.idHash)}>
        <ChatPage assistants={assistants} assistant={assistant} history={history} csrf={session.csrfToken} />
      </Page>,
    );
  });

  /** Without script: post, wait for the turn, show the page again. */
  app.post('/chat', ctx.guard.action(MAX_BODY), async (c) => {
    const session = c.get('session');
    const body = await formBody(c);
    const parsed = messageSchema.safeParse({ assistant: body.assistant, text: body.text });
    if (!parsed.success || !(await names()).includes(parsed.data.assistant)) return c.text('Bad request.', 400);
    const outcome = await ask(parsed.data.assistant, parsed.data.text);
    if (outcome.kind !== 'replies') ctx.flash.set(session.idHash, unanswered(outcome.kind), false);
    else {
      // A notice (too long, rate-limited) is not kept in the history the page shows: it is shown once, here.
      const notices = outcome.replies.filter((r) => r.kind === 'notice').map((r) => r.text);
      if (notices.length > 0) ctx.flash.set(session.idHash, notices.join(' '), false);
    }
    return c.redirect(`/chat?${new URLSearchParams({ assistant: parsed.data.assistant })}`, 303);
  });

  /** With script: JSON in, the reply streamed back over SSE as it arrives. */
  app.post('/chat/stream', ctx.guard.action(MAX_BODY), async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return c.text('Bad request.', 400);
    }
    const parsed = messageSchema.safeParse(raw);
    if (!parsed.success || !(await names()).includes(parsed.data.assistant)) return c.text('Bad request.', 400);
    c.header('cache-control', 'no-store');
    return streamOutcome(c, (onDraft) => ask(parsed.data.assistant, parsed.data.text, onDraft));
  });
}

/**
 * The reply as the page shows it: `text` as written, and `html` (rendered from the parsed tree, every text node
 * escaped) when a backend wrote markdown; the page sets `html` as markup and anything else only as text.
 */
function shown(replies: Array<Pick<Reply, 'text' | 'format'>>): { text: string; html?: string } {
  const text = replies.map((r) => r.text).join('\n\n');
  if (!replies.some((r) => r.format === 'markdown')) return { text };
  return { text, html: replies.map((r) => renderWhole(r.text, r.format, 'html')).join('\n\n') };
}

/** Why a web chat message got no reply, in the words the page shows. */
function unanswered(kind: Exclude<TurnOutcome['kind'], 'replies'>): string {
  if (kind === 'silent') return 'The message was refused by policy.';
  if (kind === 'gone') return 'The message was given up before its reply.';
  return kind === 'stopped' ? STOPPED_TEXT : 'The assistant did not answer in time.';
}
