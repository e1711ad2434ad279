import { describe, expect, it } from 'vitest';
import { type Limit, PLATFORM_LIMITS, renderReply, renderWhole } from '../../../core/render/index.js';
import { parsedText } from '../../../core/render/telegram.js';
import { cost, squash, tagCost, telegramHtmlProblem, telegramText } from './helpers.js';

// Telegram counts a message after parsing its HTML ("1-4096 characters after entities parsing"), in UTF-16 units.
const LIMIT = PLATFORM_LIMITS.telegram;
const telegram = (text: string, format: 'plain' | 'markdown' = 'plain', limit: Limit = LIMIT): string[] =>
  renderReply(text, format, 'telegram-html', limit);

/** Every part fits as Telegram counts it, carries no more tags than the limit, and is well-formed HTML. */
function expectSendable(parts: string[], limit: Limit = LIMIT): void {
  for (const part of parts) {
    expect(telegramText(part).length).toBeLessThanOrEqual(limit.max);
    expect(tagCost(part, limit.unit)).toBeLessThanOrEqual(limit.max);
    expect(telegramHtmlProblem(part)).toBeUndefined();
    expect(part.isWellFormed()).toBe(true);
  }
}

describe('Telegram counts the text its HTML parser leaves', () => {
  it('parsedText drops tags and decodes each entity to its character; one it would not decode counts in full', () => {
    expect(parsedText('<b>a &lt; b</b> &amp;lt; <a href="https://x.y/?a=1&amp;b=&quot;2&quot;">&gt;&quot;</a>')).toBe('a < b &lt; >"');
    expect(parsedText('&#60;&#128512;')).toBe('<😀');
    expect(parsedText('&nbsp;&#99999999;')).toBe('&nbsp;&#99999999;');
  });

  it('4,096 escaped "<" (or "&") are one message: Telegram counts each entity as one character', () => {
    for (const c of ['<', '>', '&']) {
      const parts = telegram(c.repeat(4096));
      expect(parts).toHaveLength(1);
      expect(telegramText(parts[0]!)).toBe(c.repeat(4096));
    }
    // Nearly 20,000 units of source: sent whole, not as five messages.
    expect(telegram('&'.repeat(4096))[0]!.length).toBe(5 * 4096);
    const code = 'if (a < b && c > d) x = a <=> b;\n'.repeat(120).trim();
    expect(code.length).toBeGreaterThan(3_900);
    const [snippet, ...rest] = telegram('```js\n' + code + '\n```', 'markdown');
    expect(rest).toEqual([]);
    expect(snippet!.length).toBeGreaterThan(5_000);
    expect(telegramText(snippet!)).toBe(code);
  });

  it('4,097 "<" are two messages, each at most 4,096 characters once parsed, whole entities only', () => {
    const parts = telegram('<'.repeat(4097));
    expect(parts.map((part) => telegramText(part).length)).toEqual([4096, 1]);
    for (const part of parts) expect(part).toMatch(/^(&lt;)+$/);
    const words = telegram('a < b '.repeat(700).trim()); // 4,199 characters
    expect(words).toHaveLength(2);
    expectSendable(words);
    expect(squash(telegramText(words.join('')))).toBe(squash('a < b '.repeat(700)));
  });

  it('markup that takes the source past 4,096 costs nothing when the text fits', () => {
    const line = (k: number) => `**Point ${k}**: use \`a<b>\` and _see_ [the docs](https://example.com/docs/${k}) & more.`;
    const markdown = Array.from({ length: 45 }, (_, k) => line(k)).join('\n');
    const whole = renderWhole(markdown, 'markdown', 'telegram-html');
    expect(whole.length).toBeGreaterThan(5_000);
    expect(telegramText(whole).length).toBeLessThan(4_096);
    expect(tagCost(whole, 'utf16')).toBeLessThan(4_096);
    expect(telegram(markdown, 'markdown')).toEqual([whole]);
  });

  it('a long mixed reply: each part fits once parsed, tags balance, and together they give back the text', () => {
    const paragraph = (k: number) =>
      `Paragraph ${k} **has bold** and _italics_, a [link ${k}](https://example.com/p/${k}?q=a&r=b), 👩‍👩‍👧 and 😀 emoji, ` +
      `and compares a < b & b > c in \`x<y>\` spans. `.repeat(3).trim();
    const block = (k: number) => '```ts\n' + `const v${k}: Map<string, Array<number>> = f(a < b && c > d);\n`.repeat(15) + '```';
    const markdown = Array.from({ length: 24 }, (_, k) => (k % 3 === 2 ? block(k) : paragraph(k))).join('\n\n');
    const whole = renderWhole(markdown, 'markdown', 'telegram-html');
    const parts = telegram(markdown, 'markdown');
    expect(parts.length).toBeGreaterThan(1);
    expectSendable(parts);
    expect(squash(parts.map(telegramText).join(''))).toBe(squash(telegramText(whole)));
    // Filled as Telegram counts (counting the source, each part held about 2,500 characters and there were four).
    for (const part of parts.slice(0, -1)) expect(cost(part, 'utf16', 'telegram-html')).toBeGreaterThan(0.75 * LIMIT.max);
    expect(parts).toHaveLength(Math.ceil(telegramText(whole).length / LIMIT.max));
    // Code blocks cut at line breaks are fenced again.
    for (const part of parts) expect(part.split('<pre>').length).toBe(part.split('</pre>').length);
  });

  it('keeps a part\'s tags within the limit too, so a reply heavy in links still goes out in parts Telegram takes', () => {
    const url = (k: number) => `https://example.com/a/very/long/path/to/resource/${k}/${'segment/'.repeat(10)}`;
    const markdown = Array.from({ length: 200 }, (_, k) => `[${k}](${url(k)})`).join(' ');
    const whole = renderWhole(markdown, 'markdown', 'telegram-html');
    expect(telegramText(whole).length).toBeLessThan(1_000);
    const parts = telegram(markdown, 'markdown');
    expect(parts.length).toBeGreaterThan(5);
    expectSendable(parts);
    expect(parts.join(' ').match(/<a href=/g)).toHaveLength(200);
    // Under a small limit as well, and a link too long to carry at all is shown as its label.
    expectSendable(telegram(markdown, 'markdown', { max: 300, unit: 'utf16' }), { max: 300, unit: 'utf16' });
    const huge = telegram(`see [label](https://x.y/${'p'.repeat(5_000)}) here`, 'markdown');
    expectSendable(huge);
    expect(huge.join(' ')).toBe('see label here');
  });

  it('counts an emoji as its two UTF-16 units and never cuts one', () => {
    expect(telegram('😀'.repeat(2048))).toHaveLength(1);
    const parts = telegram('😀'.repeat(2049));
    expect(parts.map((part) => part.length)).toEqual([4096, 2]);
    for (const part of parts) expect(part).toMatch(/^(😀)+$/u);
  });
});
