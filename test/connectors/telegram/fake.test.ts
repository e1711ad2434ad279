import { describe, expect, it } from 'vitest';
import { parseTelegramHtml } from '../../fakes/telegram/html.js';
import { startFakeTelegram, type FakeTelegram } from '../../fakes/telegram/server.js';
import { cleanups } from '../../helpers/wait.js';
import { ADA, FORUM, GROUP, message, type Json } from './fixtures.js';

/**
 * The fake Bot API refuses what Telegram refuses, in Telegram's words, and accepts what it accepts: the connector
 * tests prove only as much as it is faithful. Telegram's behaviour is its HTML parser's (tdlib's parse_html, which
 * the Bot API server runs) and the Bot API documentation's.
 */

const cleanup = cleanups();

async function fake(): Promise<FakeTelegram> {
  const f = await startFakeTelegram();
  cleanup.push(() => f.close());
  return f;
}

async function call(f: FakeTelegram, method: string, payload: Json): Promise<Json> {
  const res = await fetch(`${f.url}/bot${f.token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  return (await res.json()) as Json;
}

const html = (text: string) => parseTelegramHtml(text);
const refusal = (text: string) => {
  const r = parseTelegramHtml(text);
  return r.ok ? undefined : r.error;
};

describe('fake Telegram HTML: the documented forms', () => {
  it('accepts every documented tag and attribute, and reads the formatting they make', () => {
    const all =
      '<b>b</b><strong>b</strong><i>i</i><em>i</em><u>u</u><ins>u</ins><s>s</s><strike>s</strike><del>s</del>' +
      '<span class="tg-spoiler">p</span><tg-spoiler>p</tg-spoiler><a href="http://www.example.com/">a</a>' +
      '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><code>c</code><pre>p</pre>' +
      '<pre><code class="language-python">x</code></pre><blockquote>q</blockquote><blockquote expandable>e</blockquote>' +
      ' &lt;&gt;&amp;&quot;&#65;&#x42;';
    const r = html(all);
    if (!r.ok) throw new Error(r.error);
    expect(r.visible).toBe('bbiiuusssppa👍cpxqe <>&"AB');
    expect(r.entities.map((e) => e.type)).toEqual([
      'bold', 'bold', 'italic', 'italic', 'underline', 'underline', 'strikethrough', 'strikethrough', 'strikethrough',
      'spoiler', 'spoiler', 'text_link', 'custom_emoji', 'code', 'pre', 'pre', 'blockquote', 'expandable_blockquote',
    ]);
    expect(r.entities.find((e) => e.type === 'text_link')).toMatchObject({ url: 'http://www.example.com/', offset: 11, length: 1 });
    expect(r.entities.find((e) => e.language)).toMatchObject({ type: 'pre', language: 'python' });
    // 👍 is two UTF-16 code units, as Telegram counts offsets.
    expect(r.entities.find((e) => e.type === 'custom_emoji')).toMatchObject({ offset: 12, length: 2, custom_emoji_id: '5368324170671202286' });
  });

  it('skips attributes Telegram does not read, as Telegram does, and takes forms it accepts', () => {
    expect(html('<a href="https://e.com/" target="_blank" rel=nofollow>x</a>')).toMatchObject({ ok: true, entities: [{ type: 'text_link', url: 'https://e.com/' }] });
    expect(html('<b class="x" data-y>x</b>')).toMatchObject({ ok: true, visible: 'x', entities: [{ type: 'bold' }] });
    expect(html("<a href='https://e.com/?a=1&amp;b=2'>x</a>")).toMatchObject({ ok: true, entities: [{ url: 'https://e.com/?a=1&b=2' }] });
    expect(html('<B>x</B> <i >y</i > <b>z</>')).toMatchObject({ ok: true, visible: 'x y z' });
    expect(html('<span class=tg-spoiler>x</span>')).toMatchObject({ ok: true, entities: [{ type: 'spoiler' }] });
    // A language on a lone code is dropped, not refused; an empty tag makes no entity.
    expect(html('<code class="language-ts">x</code><b></b>')).toMatchObject({ ok: true, entities: [{ type: 'code', offset: 0, length: 1 }] });
    expect(html('a > b')).toMatchObject({ ok: true, visible: 'a > b' });
  });

  it('refuses the rest with the parser error Telegram gives', () => {
    expect(refusal('<span>x</span>')).toBe('Tag "span" must have class "tg-spoiler" at byte offset 0');
    expect(refusal('<span class="spoiler">x</span>')).toBe('Tag "span" must have class "tg-spoiler" at byte offset 0');
    expect(refusal('<tg-emoji emoji-id="abc">👍</tg-emoji>')).toBe('Invalid custom emoji identifier specified');
    expect(refusal('<tg-emoji>👍</tg-emoji>')).toBe('Invalid custom emoji identifier specified');
    expect(refusal('<p>x</p>')).toBe('Unsupported start tag "p" at byte offset 0');
    expect(refusal('x<br/>')).toBe('Unsupported start tag "br/" at byte offset 1');
    expect(refusal('a < b')).toBe('Unsupported start tag "" at byte offset 2');
    expect(refusal('é<a href=https://e.com>x</a>')).toBe('Unexpected end of name token at byte offset 10');
    expect(refusal('<a ="x">y</a>')).toBe('Empty attribute name in the tag "a" at byte offset 0');
    expect(refusal('<b>x</b class="y">')).toBe('Unclosed end tag at byte offset 4');
    expect(refusal('<b>x</i>')).toBe('Unmatched end tag at byte offset 4, expected "</b>", found "</i>"');
    expect(refusal('x</b>')).toBe('Unexpected end tag at byte offset 1');
    expect(refusal('<b>x')).toBe('Can\'t find end tag corresponding to start tag "b"');
    expect(refusal('<a href="x')).toBe('Unclosed start tag at byte offset 0');
    expect(refusal('<b')).toBe('Unclosed start tag at byte offset 0');
  });

  it('answers a refused sendMessage as Telegram does: 400 "Bad Request: can\'t parse entities: …", nothing posted', async () => {
    const f = await fake();
    const answer = await call(f, 'sendMessage', { chat_id: ADA, text: '<span>hidden</span>', parse_mode: 'HTML' });
    expect(answer).toEqual({ ok: false, error_code: 400, description: 'Bad Request: can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset 0' });
    // Empty is judged on the text shown.
    expect(await call(f, 'sendMessage', { chat_id: ADA, text: '<b> </b>', parse_mode: 'HTML' })).toMatchObject({ error_code: 400, description: 'Bad Request: message text is empty' });
    expect(f.sent).toHaveLength(0);
  });
});

describe('fake Telegram edits: "not modified" compares the text and its formatting', () => {
  it('an edit that changes only the formatting is an edit; the same formatting in other tags is not', async () => {
    const f = await fake();
    const sent = await call(f, 'sendMessage', { chat_id: ADA, text: '<b>hi</b> there', parse_mode: 'HTML' });
    const id = sent.result.message_id as number;
    const edit = (text: string, parse_mode?: string) => call(f, 'editMessageText', { chat_id: ADA, message_id: id, text, ...(parse_mode ? { parse_mode } : {}) });
    expect(await edit('<strong>hi</strong> there', 'HTML')).toMatchObject({ ok: false, error_code: 400, description: expect.stringMatching(/^Bad Request: message is not modified/) });
    expect(await edit('hi there')).toMatchObject({ ok: true, result: { text: 'hi there' } });
    expect(await edit('hi there')).toMatchObject({ ok: false, description: expect.stringMatching(/not modified/) });
    expect(await edit('hi <i>there</i>', 'HTML')).toMatchObject({ ok: true, result: { entities: [{ type: 'italic', offset: 3, length: 5 }] } });
    expect(await edit('<a href="https://a.org/">hi</a> there', 'HTML')).toMatchObject({ ok: true });
    expect(await edit('<a href="https://b.org/">hi</a> there', 'HTML')).toMatchObject({ ok: true });
    expect(f.sent[0]).toMatchObject({ edits: 4, visible: 'hi there', entities: [{ type: 'text_link', url: 'https://b.org/' }] });
  });
});

describe('fake Telegram topics: message_thread_id only in a forum topic it knows', () => {
  it('refuses a thread in a chat that is not a forum, and an unknown topic of a forum', async () => {
    const f = await fake();
    const thread = (chat_id: number, message_thread_id: number) => call(f, 'sendMessage', { chat_id, text: 'x', message_thread_id });
    const notFound = { ok: false, error_code: 400, description: 'Bad Request: message thread not found' };
    expect(await thread(ADA, 7)).toEqual(notFound);
    expect(await thread(GROUP, 7)).toEqual(notFound);
    f.forum(FORUM, 3300);
    expect(await thread(FORUM, 4400)).toEqual(notFound);
    expect(await thread(FORUM, 3300)).toMatchObject({ ok: true, result: { message_thread_id: 3300, is_topic_message: true, chat: { is_forum: true } } });
    expect(await call(f, 'sendChatAction', { chat_id: GROUP, action: 'typing', message_thread_id: 7 })).toEqual(notFound);
    expect(f.actions).toHaveLength(0);
    expect(f.sent.map((m) => m.message_thread_id)).toEqual([3300]);
  });

  it('learns forums and topics from the updates it is given; a plain group\'s reply chain is no topic', async () => {
    const f = await fake();
    f.push(message('forum-topic'));
    // The topic's creation (the root the message replies to) names it as well.
    f.push(message('forum-topic', { message_thread_id: 5500, is_topic_message: false, reply_to_message: { message_id: 5500, chat: { id: FORUM, type: 'supergroup', is_forum: true }, date: 1, forum_topic_created: { name: 'n', icon_color: 1 } } }));
    f.push(message('group-mention', { message_thread_id: 77 }));
    const thread = (chat_id: number, message_thread_id: number) => call(f, 'sendMessage', { chat_id, text: 'x', message_thread_id });
    expect(await thread(FORUM, 3300)).toMatchObject({ ok: true });
    expect(await thread(FORUM, 5500)).toMatchObject({ ok: true });
    expect(await thread(GROUP, 77)).toMatchObject({ ok: false, description: 'Bad Request: message thread not found' });
  });
});
