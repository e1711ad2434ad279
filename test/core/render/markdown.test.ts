import { describe, expect, it } from 'vitest';
import { type Dialect, type Limit, renderReply } from '../../../core/render/index.js';
import { DIALECTS, telegramHtmlProblem, ZWSP } from './helpers.js';

const BIG: Limit = { max: 100_000, unit: 'utf16' };
const md = (text: string, dialect: Dialect): string => renderReply(text, 'markdown', dialect, BIG).join('\n---\n');

const SAMPLE = [
  '# Title',
  'Some *em*, **strong**, ~~gone~~, `a < b` and [docs](https://example.com/?a=1&b=2).',
  '> quoted *line*',
  '- one\n- two\n  - nested',
  '3. three\n4. four',
  '```ts\nconst x = a < b && c;\n```',
].join('\n\n');

describe('markdown is rendered from the tree', () => {
  it('Telegram HTML', () => {
    const out = md(SAMPLE, 'telegram-html');
    expect(out).toBe(
      [
        '<b>Title</b>',
        'Some <i>em</i>, <b>strong</b>, <s>gone</s>, <code>a &lt; b</code> and <a href="https://example.com/?a=1&amp;b=2">docs</a>.',
        '<blockquote>quoted <i>line</i></blockquote>',
        '• one\n• two\n  • nested',
        '3. three\n4. four',
        '<pre><code class="language-ts">const x = a &lt; b &amp;&amp; c;</code></pre>',
      ].join('\n\n'),
    );
    expect(telegramHtmlProblem(out)).toBeUndefined();
  });

  it('Slack mrkdwn', () => {
    expect(md(SAMPLE, 'slack-mrkdwn')).toBe(
      [
        '*Title*',
        'Some _em_, *strong*, ~gone~, `a &lt; b` and <https://example.com/?a=1&amp;b=2|docs>.',
        '> quoted _line_',
        '• one\n• two\n  • nested',
        '3. three\n4. four',
        '```\nconst x = a &lt; b &amp;&amp; c;\n```',
      ].join('\n\n'),
    );
  });

  it('Discord keeps standard markdown', () => {
    expect(md(SAMPLE, 'discord')).toBe(
      [
        '# Title',
        'Some *em*, **strong**, ~~gone~~, `a < b` and [docs](https://example.com/?a=1&b=2).',
        '> quoted *line*',
        '- one\n- two\n  - nested',
        '3. three\n4. four',
        '```ts\nconst x = a < b && c;\n```',
      ].join('\n\n'),
    );
  });

  it('emphasis inside a word: Discord keeps it; Slack and WhatsApp, which format only at word boundaries, show it as written', () => {
    const text = 'This is *un*believable, **foo**bar, 2*3*4 and *whole* words.';
    expect(md(text, 'discord')).toBe('This is *un*believable, **foo**bar, 2*3*4 and *whole* words.');
    expect(md(text, 'telegram-html')).toBe('This is <i>un</i>believable, <b>foo</b>bar, 2<i>3</i>4 and <i>whole</i> words.');
    for (const dialect of ['slack-mrkdwn', 'whatsapp'] as const) {
      expect(md(text, dialect).replaceAll(ZWSP, '')).toBe('This is *un*believable, **foo**bar, 2*3*4 and _whole_ words.');
      // The written marks are escaped text: no asterisk is next to a word character where it could format.
      expect(md(text, dialect)).not.toMatch(/(^|[^\u200b])\*[^\u200b]/);
    }
  });

  it('WhatsApp', () => {
    expect(md(SAMPLE, 'whatsapp')).toBe(
      [
        '*Title*',
        'Some _em_, *strong*, ~gone~, ```a < b``` and docs (https://example.com/?a=1&b=2).',
        '> quoted _line_',
        '• one\n• two\n  • nested',
        '3. three\n4. four',
        '```\nconst x = a < b && c;\n```',
      ].join('\n\n'),
    );
  });

  it('plain (Signal, e-mail): the shape without the marks', () => {
    expect(md(SAMPLE, 'plain')).toBe(
      [
        'Title',
        'Some em, strong, gone, a < b and docs (https://example.com/?a=1&b=2).',
        '> quoted line',
        '• one\n• two\n  • nested',
        '3. three\n4. four',
        'const x = a < b && c;',
      ].join('\n\n'),
    );
  });

  it('text nodes are escaped: what the model wrote as text never becomes markup', () => {
    const text = 'Use \\*stars\\* and <@U123> or <b>html</b> & 2 * 3 * 4';
    expect(md(text, 'telegram-html')).toBe('Use *stars* and &lt;@U123&gt; or &lt;b&gt;html&lt;/b&gt; &amp; 2 * 3 * 4');
    expect(md(text, 'slack-mrkdwn')).toBe(
      `Use ${ZWSP}*${ZWSP}stars${ZWSP}*${ZWSP} and &lt;@U123&gt; or &lt;b&gt;html&lt;/b&gt; &amp; 2 ${ZWSP}*${ZWSP} 3 ${ZWSP}*${ZWSP} 4`,
    );
    expect(md(text, 'discord')).toBe('Use \\*stars\\* and \\<@U123> or <b>html</b> & 2 \\* 3 \\* 4');
    expect(md('# \\# not a heading\n\n\\> not a quote', 'discord')).toBe('# \\# not a heading\n\n\\> not a quote');
  });

  it.each(DIALECTS)('%s: only http(s) and mailto become links', (dialect) => {
    const out = md('[a](javascript:alert(1)) [b](data:text/html,x) [c](relative/path) [d](vbscript:x)', dialect);
    expect(out).not.toMatch(/javascript|data:|relative|vbscript/);
    expect(out.replaceAll(ZWSP, '')).toContain('a b c d');
    const mail = md('[write](mailto:ada@example.org)', dialect);
    expect(mail).toContain('ada@example.org');
  });

  it('autolinks show their URL once, and image references become links to the image', () => {
    expect(md('<https://x.y/a_b>', 'whatsapp')).toBe('https://x.y/a_b');
    expect(md('<https://x.y/a_b>', 'discord')).toBe('https://x.y/a_b');
    expect(md('<https://x.y/a_b>', 'slack-mrkdwn')).toBe('<https://x.y/a_b>');
    expect(md('![a cat](https://x.y/cat.png)', 'telegram-html')).toBe('<a href="https://x.y/cat.png">a cat</a>');
    expect(md('[ref][1]\n\n[1]: https://x.y/r', 'telegram-html')).toBe('<a href="https://x.y/r">ref</a>');
  });

  it('link URLs and labels are escaped for their dialect', () => {
    expect(md('[a "q" <x>](https://x.y/?q="1"&r=<2>)', 'telegram-html')).toBe(
      '<a href="https://x.y/?q=%221%22&amp;r=%3C2%3E">a "q" &lt;x&gt;</a>',
    );
    expect(md('[a|b > c](https://x.y/a|b)', 'slack-mrkdwn')).toBe('<https://x.y/a%7Cb|a|b &gt; c>');
    expect(md('[see (this)](https://x.y/a_(b))', 'discord')).toBe('[see (this)](https://x.y/a_%28b%29)');
  });

  it('GFM strikethrough on the tree: ~~x~~ only with GFM flanking, escapes and fences left alone', () => {
    expect(md('~~gone~~ ~~ spaced ~~ \\~~kept~~', 'telegram-html')).toBe('<s>gone</s> ~~ spaced ~~ ~~kept~~');
    expect(md('~~a **b** c~~', 'telegram-html')).toBe('<s>a <b>b</b> c</s>');
    expect(md('~~~\ncode ~~x~~\n~~~', 'telegram-html')).toBe('<pre>code ~~x~~</pre>');
  });

  it('raw HTML from the model is shown as text, never passed through', () => {
    expect(md('<script>alert(1)</script>\n\nhi <img src=x onerror=y>', 'telegram-html')).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt;\n\nhi &lt;img src=x onerror=y&gt;',
    );
  });

  it('the same mark is not nested inside itself, and nested quotes stay one Telegram blockquote', () => {
    expect(md('# A **b** c', 'slack-mrkdwn')).toBe('*A b c*');
    expect(md('> a\n>\n> > b', 'telegram-html')).toBe('<blockquote>a\n\nb</blockquote>');
  });

  it('code keeps its content; fences inside code cannot end the block early', () => {
    expect(md('````\na ``` b\n````', 'discord')).toBe(`\`\`\`\na ${ZWSP}\`${ZWSP}\`${ZWSP}\`${ZWSP} b\n\`\`\``);
    expect(md('``a`b``', 'discord')).toBe('`` a`b ``');
    expect(md('``a`b``', 'slack-mrkdwn')).toBe(`a${ZWSP}\`${ZWSP}b`);
    expect(md('```\n*not* <b>\n```', 'slack-mrkdwn')).toBe('```\n*not* &lt;b&gt;\n```');
    expect(md('```x" onclick="y\nz\n```', 'telegram-html')).toBe('<pre>z</pre>');
  });

  it('headings deeper than Discord supports become bold lines', () => {
    expect(md('### three\n\n#### four', 'discord')).toBe('### three\n\n**four**');
  });

  it('shows markdown nested too deep for the parser as typed, rather than failing the reply', () => {
    for (const deep of ['> '.repeat(5_000) + 'x', '1. '.repeat(3_000) + 'x', '- '.repeat(8_000) + 'x']) {
      for (const dialect of DIALECTS) {
        const parts = renderReply(deep, 'markdown', dialect, { max: 4096, unit: 'utf16' });
        expect(parts.length, dialect).toBeGreaterThan(0);
        expect(parts.at(-1), dialect).toMatch(/x$/);
      }
      // Every marker is still there, as typed.
      expect(renderReply(deep, 'markdown', 'plain', { max: 4096, unit: 'utf16' }).join(' ').replace(/\s+/g, ' ')).toBe(deep.replace(/\s+/g, ' ').trim());
    }
  });
});
