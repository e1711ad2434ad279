import { describe, expect, it } from 'vitest';
import { renderWhole } from '../../../core/render/index.js';

const md = (text: string): string => renderWhole(text, 'markdown', 'html');

describe('the dashboard html dialect', () => {
  it('renders markdown from the tree with a fixed set of tags', () => {
    const source = [
      '# Title',
      'Some *em*, **strong**, ~~gone~~, `a < b` and [docs](https://example.com/?a=1&b="2").',
      '> quoted *line*',
      '- one\n- two',
      '```ts\nconst x = a < b && c;\n```',
    ].join('\n\n');
    expect(md(source)).toBe(
      [
        '<strong>Title</strong>',
        'Some <em>em</em>, <strong>strong</strong>, <del>gone</del>, <code>a &lt; b</code> and ' +
          '<a href="https://example.com/?a=1&amp;b=%222%22" rel="noopener noreferrer nofollow" target="_blank">docs</a>.',
        '<blockquote>quoted <em>line</em></blockquote>',
        '• one\n• two',
        '<pre><code>const x = a &lt; b &amp;&amp; c;</code></pre>',
      ].join('\n\n'),
    );
  });

  it('shows html and unsafe links the model wrote as text', () => {
    const out = md('A [click](javascript:alert(1)) ![pic](data:image/png;base64,AA) <img src=x onerror=alert(1)>\n\n<script>alert(1)</script>');
    expect(out).toBe('A click pic &lt;img src=x onerror=alert(1)&gt;\n\n&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).not.toMatch(/<(?!\/?(strong|em|del|code|pre|blockquote|a)\b)/);
  });

  it('escapes a plain reply whole, markup and all', () => {
    expect(renderWhole('**not bold** <b>x</b> & y', 'plain', 'html')).toBe('**not bold** &lt;b&gt;x&lt;/b&gt; &amp; y');
  });

  it('shows markdown nested deeper than any reply means to as text', () => {
    const deep = `${'> '.repeat(40)}<i>deep</i>`;
    expect(md(deep)).toBe(`${'&gt; '.repeat(40)}&lt;i&gt;deep&lt;/i&gt;`);
  });
});
