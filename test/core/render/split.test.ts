import { describe, expect, it } from 'vitest';
import { type Dialect, type Limit, PLATFORM_DIALECTS, PLATFORM_LIMITS, type Platform, renderReply } from '../../../core/render/index.js';
import { cost, DIALECTS, squash, tagCost, telegramHtmlProblem, telegramText, unescape } from './helpers.js';

const within = (parts: string[], limit: Limit, dialect: Dialect): void => {
  for (const part of parts) {
    expect(cost(part, limit.unit, dialect)).toBeLessThanOrEqual(limit.max);
    if (dialect === 'telegram-html') expect(tagCost(part, limit.unit)).toBeLessThanOrEqual(limit.max);
    expect(part.isWellFormed()).toBe(true);
    expect(part).toMatch(/\S/);
  }
};

// About 10,000 characters of prose: sentences, paragraphs, markup characters, emoji and accents.
const sentence = (k: number): string => `Sentence ${k} has <tags> & *stars* in it, and 👩‍👩‍👧 e\u0301moji too.`;
const PROSE = Array.from({ length: 12 }, (_, p) =>
  Array.from({ length: 14 }, (_, s) => sentence(p * 14 + s)).join(' '),
).join('\n\n');

describe('splitting', () => {
  it('a 10,000-character reply fits every platform, in order, cut between sentences or paragraphs', () => {
    expect(PROSE.length).toBeGreaterThan(10_000);
    for (const platform of Object.keys(PLATFORM_LIMITS) as Platform[]) {
      const limit = PLATFORM_LIMITS[platform];
      const dialect = PLATFORM_DIALECTS[platform];
      const parts = renderReply(PROSE, 'plain', dialect, limit);
      within(parts, limit, dialect);
      expect(squash(unescape(dialect, parts.join('')))).toBe(squash(PROSE));
      // Cut only between sentences, and never leaving a part less than half full.
      for (const part of parts) expect(unescape(dialect, part)).toMatch(/too\.$/);
      for (const part of parts.slice(0, -1)) expect(cost(part, limit.unit, dialect) * 2).toBeGreaterThanOrEqual(limit.max);
    }
  });

  it('a markdown reply of 10,000 characters fits every platform and keeps Telegram HTML well-formed', () => {
    const markdown = PROSE.replaceAll('<tags>', '**bold words that run on**').replaceAll('*stars*', '[a link](https://x.y/z)');
    for (const platform of Object.keys(PLATFORM_LIMITS) as Platform[]) {
      const limit = PLATFORM_LIMITS[platform];
      const parts = renderReply(markdown, 'markdown', PLATFORM_DIALECTS[platform], limit);
      within(parts, limit, PLATFORM_DIALECTS[platform]);
      if (platform === 'telegram') for (const part of parts) expect(telegramHtmlProblem(part)).toBeUndefined();
    }
  });

  it('prefers a paragraph break, then a line break, then a sentence end, then a space', () => {
    const limit: Limit = { max: 40, unit: 'utf16' };
    const cut = (text: string) => renderReply(text, 'plain', 'plain', limit);
    expect(cut('A first paragraph here.\n\nSecond one. And more words here')).toEqual([
      'A first paragraph here.',
      'Second one. And more words here',
    ]);
    expect(cut('The first line is here\nNext. Then the rest of it goes on')).toEqual([
      'The first line is here',
      'Next. Then the rest of it goes on',
    ]);
    expect(cut('This is the first one. Then a longer sentence without end')).toEqual([
      'This is the first one.',
      'Then a longer sentence without end',
    ]);
    expect(cut('words words words words words words words words')).toEqual(['words words words words words words', 'words words']);
  });

  it('prefers a paragraph break in reach to any other, however short the part it leaves', () => {
    const limit: Limit = { max: 40, unit: 'utf16' };
    expect(renderReply('Hi.\n\nwords words words words words words words', 'plain', 'plain', limit)).toEqual([
      'Hi.',
      'words words words words words words',
      'words',
    ]);
    // On Telegram's limit: a 1,000-character paragraph, then one of 3,500, go as they were written.
    const [first, second] = ['a '.repeat(500).trim(), 'b '.repeat(1_750).trim()];
    expect(renderReply(`${first}\n\n${second}`, 'plain', 'plain', { max: 4_096, unit: 'utf16' })).toEqual([first, second]);
    // A run with no whitespace is cut hard only when there is no whitespace at all in reach.
    expect(renderReply('ab ' + 'x'.repeat(60), 'plain', 'plain', limit)).toEqual(['ab', 'x'.repeat(40), 'x'.repeat(20)]);
  });

  it('adds no markers and trims whitespace only at the cuts', () => {
    const parts = renderReply('  lead  ' + 'word '.repeat(30) + '  trail  ', 'plain', 'plain', { max: 50, unit: 'utf16' });
    expect(parts[0]!.startsWith('  lead')).toBe(true);
    expect(parts.at(-1)!.endsWith('trail  ')).toBe(true);
    for (const part of parts.slice(1)) expect(part).toMatch(/^\S/);
    for (const part of parts.slice(0, -1)) expect(part).toMatch(/\S$/);
    expect(parts.join(' ')).not.toMatch(/\(\d+\/\d+\)|…/);
  });

  it('never cuts inside an entity: Telegram counts one per character, Slack the escaped text', () => {
    const limit = PLATFORM_LIMITS.telegram;
    const parts = renderReply('<'.repeat(10_000), 'plain', 'telegram-html', limit);
    expect(parts.map((part) => part.length / '&lt;'.length)).toEqual([4096, 4096, 1808]);
    within(parts, limit, 'telegram-html');
    for (const part of parts) expect(part).toMatch(/^(&lt;)+$/);
    const slack = renderReply('&'.repeat(4000), 'plain', 'slack-mrkdwn', PLATFORM_LIMITS.slack);
    expect(slack).toHaveLength(5);
    for (const part of slack) expect(part).toMatch(/^(&amp;)+$/);
  });

  it('never cuts inside a backslash escape or a surrogate pair, and keeps graphemes whole when it can', () => {
    const discord = renderReply('*'.repeat(101), 'plain', 'discord', { max: 17, unit: 'utf16' });
    for (const part of discord) expect(part).toMatch(/^(\\\*)+$/);
    const emoji = renderReply('😀'.repeat(100), 'plain', 'plain', { max: 17, unit: 'utf16' });
    for (const part of emoji) expect(part).toMatch(/^(😀)+$/u);
    const family = '👩‍👩‍👧'; // 8 UTF-16 units
    const families = renderReply(family.repeat(20), 'plain', 'plain', { max: 20, unit: 'utf16' });
    expect(families.every((part) => part === family.repeat(2))).toBe(true);
    // A grapheme longer than a whole message can only be cut, between code points.
    const zalgo = 'a' + '\u0301'.repeat(40);
    expect(renderReply(zalgo, 'plain', 'plain', { max: 16, unit: 'utf16' }).join('')).toBe(zalgo);
  });

  it('counts UTF-8 bytes for Signal', () => {
    const text = 'é😀ü '.repeat(600); // 9 bytes, 5 UTF-16 units per repeat: 5,400 bytes, 3,000 units
    const parts = renderReply(text, 'plain', 'plain', PLATFORM_LIMITS.signal);
    expect(parts.length).toBe(3);
    within(parts, PLATFORM_LIMITS.signal, 'plain');
    expect(parts.slice(0, -1).every((part) => Buffer.byteLength(part) > 1990)).toBe(true);
  });

  it('splits a code block of 5,000 characters at line breaks and fences every part again', () => {
    const lines = Array.from({ length: 250 }, (_, k) => `  line ${String(k).padStart(3, '0')} = a < b; // pad`);
    const body = lines.join('\n');
    expect(body.length).toBeGreaterThan(5000);
    const fenced = '```js\n' + body + '\n```';
    const cases: [Dialect, Limit, RegExp][] = [
      ['telegram-html', PLATFORM_LIMITS.telegram, /^<pre><code class="language-js">[^]*<\/code><\/pre>$/],
      ['discord', PLATFORM_LIMITS.discord, /^```js\n[^]*\n```$/],
      ['slack-mrkdwn', { max: 2000, unit: 'utf16' }, /^```\n[^]*\n```$/],
      ['whatsapp', { max: 2000, unit: 'utf16' }, /^```\n[^]*\n```$/],
    ];
    for (const [dialect, limit, shape] of cases) {
      const parts = renderReply(fenced, 'markdown', dialect, limit);
      expect(parts.length).toBeGreaterThan(1);
      within(parts, limit, dialect);
      const inner = parts.map((part) => {
        expect(part).toMatch(shape);
        return part.replace(/^(<pre><code[^>]*>|```js\n|```\n)/, '').replace(/(<\/code><\/pre>|\n```)$/, '');
      });
      // Whole lines, indentation kept, none lost or reordered.
      const back = inner.join('\n');
      expect(dialect === 'telegram-html' ? telegramText(back) : back.replaceAll('&lt;', '<')).toBe(body);
    }
  });

  it('Telegram: tags open at a cut are closed and reopened, so each part is well-formed', () => {
    const text = '> **' + 'bold and quoted words '.repeat(60).trim() + '** [link label ' + 'x '.repeat(40).trim() + '](https://x.y/)';
    const parts = renderReply(text, 'markdown', 'telegram-html', { max: 300, unit: 'utf16' });
    expect(parts.length).toBeGreaterThan(3);
    within(parts, { max: 300, unit: 'utf16' }, 'telegram-html');
    for (const part of parts) expect(telegramHtmlProblem(part)).toBeUndefined();
    expect(parts[1]).toMatch(/^<blockquote><b>\w/);
    expect(parts.at(-1)).toMatch(/<a href="https:\/\/x.y\/">.*<\/a><\/blockquote>$/);
  });

  it('Discord, Slack, WhatsApp: marks and masked links are repeated in each part they span', () => {
    const text = '**' + 'strong words '.repeat(30).trim() + '** and [' + 'label words '.repeat(20).trim() + '](https://x.y/)';
    const discord = renderReply(text, 'markdown', 'discord', { max: 120, unit: 'utf16' });
    expect(discord[0]).toMatch(/^\*\*strong.*words\*\*$/);
    expect(discord.at(-1)).toMatch(/^\[label.*words\]\(https:\/\/x\.y\/\)$/);
    const whatsapp = renderReply('**' + 'strong words '.repeat(30).trim() + '**', 'markdown', 'whatsapp', { max: 120, unit: 'utf16' });
    for (const part of whatsapp) expect(part).toMatch(/^\*strong.*words\*$/);
  });

  it('markup too long to repeat is left out rather than overflow the limit', () => {
    const url = 'https://x.y/' + 'p'.repeat(200);
    const parts = renderReply(`[${'word '.repeat(30)}](${url})`, 'markdown', 'telegram-html', { max: 100, unit: 'utf16' });
    within(parts, { max: 100, unit: 'utf16' }, 'telegram-html');
    for (const part of parts) expect(telegramHtmlProblem(part)).toBeUndefined();
    expect(squash(telegramText(parts.join('')))).toBe(squash('word '.repeat(30)));
    // Only that markup: the bold around it is still repeated in every part.
    const bold = renderReply(`**${'word '.repeat(30).trim()} [link](${url}) tail**`, 'markdown', 'telegram-html', { max: 100, unit: 'utf16' });
    expect(bold.length).toBeGreaterThan(2);
    for (const part of bold) expect(part).toMatch(/^<b>.*<\/b>$/);
  });

  it('a reply that fits is one part, identical to the unsplit rendering', () => {
    for (const dialect of DIALECTS) {
      const one = renderReply('**Hi** there, <you>!', 'markdown', dialect, { max: 1000, unit: 'utf16' });
      expect(one).toHaveLength(1);
    }
  });
});
