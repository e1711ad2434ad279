import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTelegramHtml, type HtmlEntity } from './html.js';

/**
 * A loopback Telegram Bot API (https://core.telegram.org/bots/api) for the real grammy client: `/bot<token>/<method>`
 * on 127.0.0.1. getUpdates keeps Telegram's offset semantics (asking with offset N confirms and drops every update
 * below N; a second concurrent getUpdates ends the first with 409; a set webhook makes it 409), sendMessage checks
 * HTML entities and the 4,096 limit, and posts into a topic only of a chat it knows as a forum (see `forum`), and the
 * test controls below inject failures and inspect what was sent.
 * Unlike Telegram it does not filter by allowed_updates, so a connector's handling of unexpected kinds is provable.
 */

export interface FakeError {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number };
}

export interface SentMessage {
  message_id: number;
  chat_id: string;
  /** As sent (HTML when parse_mode is HTML). */
  text: string;
  /** As a user sees it. */
  visible: string;
  /** Its formatting, as Telegram parsed it from the HTML (none without parse_mode). */
  entities: HtmlEntity[];
  parse_mode?: string;
  message_thread_id?: number;
  reply_to?: number;
  at: number;
  /** How many times it was edited (editMessageText). */
  edits?: number;
}

export interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
  at: number;
  status: number;
}

export const FAKE_BOT = { id: 7012345678, is_bot: true, first_name: 'MonkeyClaw', username: 'monkeyclaw_test_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };
export const FAKE_TOKEN = '7012345678:AAFakeTokenForLoopbackTests_0123456789';
const MAX_TEXT = 4096;

type Update = Record<string, unknown> & { update_id: number };
type Answer = { status: number; body: unknown };
const ok = (result: unknown): Answer => ({ status: 200, body: { ok: true, result } });
const fail = (e: FakeError): Answer => ({ status: e.error_code, body: { ok: false, ...e } });
const badRequest = (description: string) => fail({ error_code: 400, description: `Bad Request: ${description}` });

type Text = { text: string; visible: string; entities: HtmlEntity[] };

/**
 * A message's text as Telegram checks it (sendMessage and editMessageText alike): as sent, as a user sees it, and
 * its formatting. Empty is judged after parsing: `<b> </b>` shows nothing, and is refused as `""` is.
 */
function messageText(p: Record<string, unknown>): Text | { error: Answer } {
  if (typeof p.text !== 'string' || p.text.trim() === '') return { error: badRequest('message text is empty') };
  let visible = p.text;
  let entities: HtmlEntity[] = [];
  if (p.parse_mode !== undefined) {
    if (p.parse_mode !== 'HTML') return { error: badRequest(`unsupported parse_mode "${String(p.parse_mode)}"`) };
    const parsed = parseTelegramHtml(p.text);
    if (!parsed.ok) return { error: badRequest(`can't parse entities: ${parsed.error}`) };
    ({ visible, entities } = parsed);
    if (visible.trim() === '') return { error: badRequest('message text is empty') };
  }
  // Telegram counts the text after entity parsing ("1-4096 characters after entities parsing"), not the HTML.
  if (visible.length > MAX_TEXT) return { error: badRequest('message is too long') };
  return { text: p.text, visible, entities };
}

const sameEntities = (a: HtmlEntity[], b: HtmlEntity[]): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The messages of an update: its message (edited or not, channel post or not) and the one it replies to. */
function messagesOf(update: Record<string, unknown>): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  for (const kind of ['message', 'edited_message', 'channel_post', 'edited_channel_post']) {
    const m = update[kind] as Record<string, any> | undefined;
    if (m && typeof m === 'object') out.push(m, ...(m.reply_to_message && typeof m.reply_to_message === 'object' ? [m.reply_to_message] : []));
  }
  return out;
}

export class FakeTelegram {
  readonly calls: ApiCall[] = [];
  readonly sent: SentMessage[] = [];
  readonly actions: Array<{ chat_id: string; action: string; message_thread_id?: number }> = [];
  webhook: { url: string; secret_token?: string; allowed_updates?: unknown } | undefined;
  /** True if anyone ever asked to drop pending updates: the connector never should. */
  droppedPending = false;
  /** Every update id below this has been confirmed by a getUpdates offset. */
  confirmed = 0;
  private log: Update[] = [];
  private nextUpdateId = 500_000;
  private nextMessageId = 9_000;
  private readonly failures = new Map<string, Array<FakeError | null>>();
  /** Forum chats, each with the topics (message_thread_id) known in it. */
  private readonly forums = new Map<string, Set<number>>();
  private waiter: { res: ServerResponse; payload: Record<string, unknown>; limit: number; timer: NodeJS.Timeout } | undefined;
  private readonly server = createServer((req, res) => void this.route(req, res));
  url = '';

  constructor(readonly token = FAKE_TOKEN) {}

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    if (this.waiter) clearTimeout(this.waiter.timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Queues an update as Telegram would; an update_id is assigned unless given. Returns it. */
  push(update: Record<string, unknown>): number {
    this.learn(update);
    const id = typeof update.update_id === 'number' ? update.update_id : this.nextUpdateId++;
    this.nextUpdateId = Math.max(this.nextUpdateId, id + 1);
    this.log.push({ ...update, update_id: id });
    this.wake();
    return id;
  }

  /**
   * Numbers updates afresh from `next`, as Telegram does after a week without updates (a random start) or another
   * Bot API server behind the same apiRoot: everything queued so far is gone.
   */
  renumber(next: number): void {
    this.log = [];
    this.confirmed = next;
    this.nextUpdateId = next;
  }

  /** Forgets confirmations from `offset` on, as if they never reached Telegram: it delivers those updates again. */
  rewind(offset: number): void {
    this.confirmed = Math.min(this.confirmed, offset);
    this.wake();
  }

  /**
   * After `after` normal calls, the next `count` calls of `method` answer `error` (e.g. 429 with
   * parameters.retry_after). `error_code: 0` drops the connection instead, as a network failure would; `-1` never
   * answers.
   */
  failNext(method: string, count: number, error: FakeError, after = 0): void {
    const queue = [...Array.from({ length: after }, () => null), ...Array.from({ length: count }, () => error)];
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...queue]);
  }

  /**
   * Makes `chatId` a forum with these topics (message_thread_id). Only in a forum's topics can a message (or a chat
   * action) be posted with message_thread_id; anywhere else Telegram answers 400 "message thread not found".
   */
  forum(chatId: number | string, ...threads: number[]): void {
    const topics = this.forums.get(String(chatId)) ?? new Set<number>();
    for (const t of threads) topics.add(t);
    this.forums.set(String(chatId), topics);
  }

  /**
   * What an update says about its chat, as Telegram knows it: a chat with `is_forum` is a forum, and a topic message
   * (`is_topic_message`) or a topic's creation (`forum_topic_created`) names a topic in it. A plain supergroup's
   * message_thread_id (a reply chain) names none. push() learns from every update; a test that delivers updates
   * another way (a webhook) calls it, or forum().
   */
  learn(update: Record<string, unknown>): void {
    for (const m of messagesOf(update)) {
      const chat = m.chat?.id;
      if (chat === undefined) continue;
      if (m.chat.is_forum === true) this.forum(chat);
      if (m.is_topic_message === true && typeof m.message_thread_id === 'number') this.forum(chat, m.message_thread_id);
      if (m.forum_topic_created !== undefined && typeof m.message_id === 'number') this.forum(chat, m.message_id);
    }
  }

  /** True while a getUpdates long poll is held open. */
  get longPolling(): boolean {
    return this.waiter !== undefined;
  }

  pending(): Update[] {
    return this.log.filter((u) => u.update_id >= this.confirmed);
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  sentTo(chatId: number | string): SentMessage[] {
    return this.sent.filter((m) => m.chat_id === String(chatId));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let payload: Record<string, unknown> = {};
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text) payload = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return this.reply(res, 'invalid', payload, badRequest('invalid JSON'));
    }
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url ?? '');
    if (!m) return this.reply(res, 'unknown', payload, fail({ error_code: 404, description: 'Not Found' }));
    const [, token, method] = m as unknown as [string, string, string];
    if (token !== this.token) return this.reply(res, method, payload, fail({ error_code: 401, description: 'Unauthorized' }));
    const injected = this.failures.get(method)?.shift();
    if (injected?.error_code === 0) {
      this.calls.push({ method, payload, at: Date.now(), status: 0 });
      return void req.socket.destroy();
    }
    // -1: never answers, as a request lost on the way.
    if (injected?.error_code === -1) return void this.calls.push({ method, payload, at: Date.now(), status: -1 });
    if (injected) return this.reply(res, method, payload, fail(injected));
    if (method === 'getUpdates') return this.getUpdates(res, payload);
    this.reply(res, method, payload, this.handle(method, payload));
  }

  private reply(res: ServerResponse, method: string, payload: Record<string, unknown>, answer: Answer): void {
    this.calls.push({ method, payload, at: Date.now(), status: answer.status });
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }

  private getUpdates(res: ServerResponse, p: Record<string, unknown>): void {
    if (this.webhook) {
      return this.reply(res, 'getUpdates', p, fail({ error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" }));
    }
    if (this.waiter) {
      const old = this.waiter;
      this.waiter = undefined;
      clearTimeout(old.timer);
      this.reply(old.res, 'getUpdates', old.payload, fail({ error_code: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' }));
    }
    const offset = typeof p.offset === 'number' ? p.offset : undefined;
    // An offset past any update it gave confirms nothing: the Bot API server answers it from its first update.
    const future = offset !== undefined && offset > this.nextUpdateId + 10;
    if (offset !== undefined && offset > this.confirmed && !future) this.confirmed = offset;
    const limit = typeof p.limit === 'number' ? Math.min(100, Math.max(1, p.limit)) : 100;
    const timeout = typeof p.timeout === 'number' ? p.timeout : 0;
    const ready = this.pending().slice(0, limit);
    if (ready.length > 0 || timeout <= 0) return this.reply(res, 'getUpdates', p, ok(ready));
    const timer = setTimeout(() => {
      if (this.waiter?.res !== res) return;
      this.waiter = undefined;
      this.reply(res, 'getUpdates', p, ok([]));
    }, timeout * 1000);
    this.waiter = { res, payload: p, limit, timer };
    // A client that gives up (aborted on stop) is no longer waiting.
    res.on('close', () => {
      if (this.waiter?.res !== res) return;
      clearTimeout(timer);
      this.waiter = undefined;
    });
  }

  private wake(): void {
    const w = this.waiter;
    if (!w || this.pending().length === 0) return;
    this.waiter = undefined;
    clearTimeout(w.timer);
    this.reply(w.res, 'getUpdates', w.payload, ok(this.pending().slice(0, w.limit)));
  }

  private handle(method: string, p: Record<string, unknown>): Answer {
    switch (method) {
      case 'getMe':
        return ok(FAKE_BOT);
      case 'sendMessage':
        return this.sendMessage(p);
      case 'editMessageText':
        return this.editMessageText(p);
      case 'sendChatAction':
        if (p.chat_id === undefined || typeof p.action !== 'string') return badRequest('chat_id is empty');
        if (!this.hasThread(p)) return badRequest('message thread not found');
        this.actions.push({ chat_id: String(p.chat_id), action: p.action, ...(typeof p.message_thread_id === 'number' ? { message_thread_id: p.message_thread_id } : {}) });
        return ok(true);
      case 'setWebhook': {
        if (typeof p.url !== 'string' || !p.url) return badRequest('bad webhook: URL must be provided');
        if (p.secret_token !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(String(p.secret_token))) return badRequest('bad webhook: secret token contains unallowed characters');
        if (p.drop_pending_updates) this.dropPending();
        this.webhook = { url: p.url, ...(typeof p.secret_token === 'string' ? { secret_token: p.secret_token } : {}), allowed_updates: p.allowed_updates };
        return ok(true);
      }
      case 'deleteWebhook':
        if (p.drop_pending_updates) this.dropPending();
        this.webhook = undefined;
        return ok(true);
      case 'getWebhookInfo':
        return ok({ url: this.webhook?.url ?? '', has_custom_certificate: false, pending_update_count: this.pending().length });
      default:
        return fail({ error_code: 404, description: 'Not Found: method not found' });
    }
  }

  /** True unless message_thread_id names no topic of a forum the fake knows. */
  private hasThread(p: Record<string, unknown>): boolean {
    if (p.message_thread_id === undefined) return true;
    return typeof p.message_thread_id === 'number' && this.forums.get(String(p.chat_id))?.has(p.message_thread_id) === true;
  }

  private dropPending(): void {
    this.droppedPending = true;
    this.confirmed = this.nextUpdateId;
  }

  /**
   * Telegram's edit: only a message the bot sent in that chat; the same content again (text and formatting: `<b>`
   * for `<strong>` is the same, bold for plain is not) is a 400 "not modified".
   */
  private editMessageText(p: Record<string, unknown>): Answer {
    const message = this.sent.find((m) => m.chat_id === String(p.chat_id) && m.message_id === p.message_id);
    if (!message) return badRequest('message to edit not found');
    const text = messageText(p);
    if ('error' in text) return text.error;
    const { visible, entities } = text;
    if (visible === message.visible && sameEntities(entities, message.entities)) return badRequest('message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message');
    message.text = text.text;
    message.visible = visible;
    message.entities = entities;
    if (typeof p.parse_mode === 'string') message.parse_mode = p.parse_mode;
    else delete message.parse_mode;
    message.edits = (message.edits ?? 0) + 1;
    return ok({ message_id: message.message_id, date: Math.floor(message.at / 1000), edit_date: Math.floor(Date.now() / 1000), chat: { id: Number(message.chat_id) }, text: visible, ...(entities.length ? { entities } : {}) });
  }

  private sendMessage(p: Record<string, unknown>): Answer {
    if (p.chat_id === undefined || p.chat_id === '') return badRequest('chat_id is empty');
    const text = messageText(p);
    if ('error' in text) return text.error;
    const { visible, entities } = text;
    const chatId = String(p.chat_id);
    if (!this.hasThread(p)) return badRequest('message thread not found');
    const thread = typeof p.message_thread_id === 'number' ? p.message_thread_id : undefined;
    const replyTo = (p.reply_parameters as { message_id?: unknown } | undefined)?.message_id;
    const message: SentMessage = {
      message_id: this.nextMessageId++,
      chat_id: chatId,
      text: text.text,
      visible,
      entities,
      ...(typeof p.parse_mode === 'string' ? { parse_mode: p.parse_mode } : {}),
      ...(thread !== undefined ? { message_thread_id: thread } : {}),
      ...(typeof replyTo === 'number' ? { reply_to: replyTo } : {}),
      at: Date.now(),
    };
    this.sent.push(message);
    const id = Number(chatId);
    const chat = id > 0 ? { id, type: 'private', first_name: 'Ada' } : { id, type: 'supergroup', title: 'Fake group', ...(this.forums.has(chatId) ? { is_forum: true } : {}) };
    return ok({ message_id: message.message_id, date: Math.floor(message.at / 1000), chat, from: FAKE_BOT, text: visible, ...(entities.length ? { entities } : {}), ...(thread !== undefined ? { message_thread_id: thread, is_topic_message: true } : {}) });
  }
}

export const startFakeTelegram = (token?: string): Promise<FakeTelegram> => new FakeTelegram(token).listen();
