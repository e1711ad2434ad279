import type { Nodes } from 'mdast';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import { describe, expect, it } from 'vitest';
import { type Limit, renderReply } from '../../../core/render/index.js';
import { PIECE, parseMarkdown } from '../../../core/render/parse.js';
import { strikethrough } from '../../../core/render/strike.js';
import { cost, tagCost, telegramHtmlProblem } from './helpers.js';

const HUGE: Limit = { max: 10_000_000, unit: 'utf16' };

/** The tree without positions or definitions: what rendering depends on. */
function shape(node: Nodes): unknown {
  const { position: _position, ...rest } = node as Nodes & { position?: unknown };
  if ('children' in node) {
    return { ...rest, children: node.children.filter((c) => c.type !== 'definition').map((c) => shape(c)) };
  }
  return rest;
}

const block = (k: number): string =>
  [
    `## Section ${k}`,
    `Paragraph ${k} with **bold**, _em_, ~~struck~~, \`code\`, a [link](https://x.y/${k}) and a [ref][r].`,
    `- item ${k}.1\n- item ${k}.2\n  continued\n  - nested`,
    `> quoted ${k}\n> more`,
    '```js\n' + `const k = ${k};\n\nconsole.log(k);\n` + '```',
    // Not a fence (a backtick after the run), then fences whose blank lines and margin lines must not cut them.
    'Inline ```not a fence``` here.',
    `~~~\ncode ${k}\n\nat the margin\n~~~`,
    `  \`\`\`\nindented fence ${k}\n\nat the margin\n  \`\`\``,
  ].join('\n\n');

describe('parsing long markdown in pieces', () => {
  it('gives the same tree as parsing it whole, for ordinary documents', () => {
    const source = Array.from({ length: 80 }, (_, k) => block(k)).join('\n\n') + '\n\n[r]: https://x.y/ref';
    expect(source.length).toBeGreaterThan(3 * PIECE);
    const whole = unified().use(remarkParse).parse(source);
    strikethrough(whole, source);
    expect(shape(parseMarkdown(source))).toEqual(shape(whole));
  });

  it('never cuts between pieces inside a fence, whatever its blank lines and margin lines', () => {
    // The filler's length is swept so that a piece fills up at each line of the fence in turn.
    for (const fence of ['~~~\na\n\nat the margin\n~~~', '  ```\na\n\nat the margin\n  ```', '````\n```\n\nb\n````']) {
      for (let room = 2; room < fence.length + 4; room++) {
        const source = `${'x'.repeat(PIECE - room)}\n\n${fence}\n\nafter`;
        const whole = unified().use(remarkParse).parse(source);
        expect(shape(parseMarkdown(source))).toEqual(shape(whole));
      }
    }
  });

  it('resolves a reference defined in another piece', () => {
    const source = '[see this][far]\n\n' + 'filler words here. '.repeat(1000) + '\n\n[far]: https://x.y/far';
    expect(renderReply(source, 'markdown', 'telegram-html', HUGE)[0]).toMatch(/^<a href="https:\/\/x\.y\/far">see this<\/a>/);
  });

  it('keeps a fenced block longer than a piece as one code block', () => {
    const body = Array.from({ length: 2000 }, (_, k) => `line ${k}: x = "${'y'.repeat(k % 13)}"`).join('\n');
    expect(body.length).toBeGreaterThan(3 * PIECE);
    const tree = parseMarkdown('Before.\n\n```py\n' + body + '\n```\n\nAfter.');
    expect(tree.children.map((c) => c.type)).toEqual(['paragraph', 'code', 'paragraph']);
    expect(tree.children[1]).toMatchObject({ type: 'code', lang: 'py', value: body });
  });

  it('cuts a block longer than a piece at line breaks and joins it back: every item in one list', () => {
    const items = Array.from({ length: 2500 }, (_, k) => `- item ${k}`);
    const parts = renderReply(items.join('\n'), 'markdown', 'telegram-html', HUGE);
    expect(parts[0]!.split('\n')).toEqual(items.map((item) => item.replace('- ', '• ')));
    // A single line is cut before a word, never where a list item or heading could start.
    const line = Array.from({ length: 4000 }, (_, k) => (k % 3 === 1 ? '- 1. #' : 'word')).join(' ');
    const out = renderReply(line, 'markdown', 'plain', HUGE);
    expect(out).toHaveLength(1);
    expect(out[0]!.replace(/\s+/g, ' ') === line).toBe(true);
  });

  it('joins a line cut to be parsed exactly as it was: no line break where a space was, none inside a word or an emoji', () => {
    const words = Array.from({ length: 1700 }, (_, i) => `word${i}`).join(' ') + '.';
    const cjk = '这是一个很长的中文段落没有任何空格'.repeat(600);
    const family = '👨‍👩‍👧‍👦'.repeat(1500);
    // Cut where no space is: never before what would open a block at the start of a piece (a quote, a list item).
    const blocky = `${'a'.repeat(PIECE)}>quoted? - no # list`;
    const dashes = `${'x'.repeat(PIECE - 8)} - # - >${'z'.repeat(100)}`;
    for (const line of [words, cjk, family, blocky, dashes]) {
      expect(line.length).toBeGreaterThan(PIECE);
      expect(renderReply(line, 'markdown', 'plain', HUGE)).toEqual([line]);
    }
    // Split for Telegram, each part ends on a whole emoji.
    const parts = renderReply(family, 'markdown', 'telegram-html', { max: 4096, unit: 'utf16' });
    expect(parts.join('')).toBe(family);
    for (const part of parts) expect(part).toMatch(/^(👨‍👩‍👧‍👦)+$/u);
  });

  // micromark's cost grows faster than linearly within a block; in pieces this takes about a second of CPU each.
  it('renders 100,000 characters of pathological markdown, within the limit', { timeout: 120_000 }, () => {
    const limit: Limit = { max: 4096, unit: 'utf16' };
    for (const source of ['*a* '.repeat(25_000), '> q\n'.repeat(25_000), '- [x](https://x.y) '.repeat(5_000)]) {
      const parts = renderReply(source, 'markdown', 'telegram-html', limit);
      expect(parts.length).toBeGreaterThan(1);
      for (const part of parts) {
        expect(cost(part, limit.unit, 'telegram-html')).toBeLessThanOrEqual(limit.max);
        expect(tagCost(part, limit.unit)).toBeLessThanOrEqual(limit.max);
        expect(telegramHtmlProblem(part)).toBeUndefined();
      }
    }
  });
});
