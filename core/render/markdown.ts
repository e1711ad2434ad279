import type { List, Nodes, PhrasingContent, Root, RootContent } from 'mdast';
import { parseMarkdown } from './parse.js';
import { atom, type Mark, prefixLines, type Style, text, type Token, wrap } from './tokens.js';

/**
 * Renders markdown (what LLM backends write) from its parsed tree, never by rewriting the string: every text node
 * goes through the dialect's escaping, so nothing in the model's text becomes markup it did not write as markup.
 */

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** Only http(s) and mailto become links; `javascript:`, `data:` and relative URLs stay text. */
export function safeUrl(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  return SAFE_PROTOCOLS.has(parsed.protocol) ? parsed.href : undefined;
}

interface Ctx {
  /** Marks already open: the same mark nested inside itself is not repeated (`*a *b* c*` breaks on Slack). */
  marks: ReadonlySet<string>;
  quoted: boolean;
}

export function renderMarkdown(source: string, style: Style): Token[] {
  const tree: Root = parseMarkdown(source);
  const definitions = new Map<string, string>();
  collectDefinitions(tree, definitions);
  return new Renderer(style, definitions).blocks(tree.children, '\n\n', { marks: new Set(), quoted: false });
}

function collectDefinitions(node: Nodes, into: Map<string, string>): void {
  if (node.type === 'definition' && !into.has(node.identifier)) into.set(node.identifier, node.url);
  if ('children' in node) for (const child of node.children) collectDefinitions(child, into);
}

function toText(node: Nodes): string {
  if (node.type === 'image' || node.type === 'imageReference') return node.alt ?? '';
  if ('value' in node) return node.value;
  return 'children' in node ? node.children.map(toText).join('') : '';
}

const isMark = (node: PhrasingContent): node is Extract<PhrasingContent, { type: 'strong' | 'emphasis' | 'delete' }> =>
  node.type === 'strong' || node.type === 'emphasis' || node.type === 'delete';
/** How markdown writes each mark inside a word (`_` cannot open or close there). */
const WRITTEN = { strong: '**', emphasis: '*', delete: '~~' } as const;
/** Whether a mark between these neighbours sits inside a word: a letter or digit touches it on either side. */
const inWord = (before: PhrasingContent | undefined, after: PhrasingContent | undefined): boolean =>
  (before?.type === 'text' && /[\p{L}\p{N}]$/u.test(before.value)) || (after?.type === 'text' && /^[\p{L}\p{N}]/u.test(after.value));

const withMark = (ctx: Ctx, mark: string): Ctx => ({ ...ctx, marks: new Set([...ctx.marks, mark]) });
const language = (lang: string | null | undefined): string | undefined => lang?.match(/^[\w+#.-]{1,32}$/)?.[0];

class Renderer {
  constructor(
    private readonly style: Style,
    private readonly definitions: ReadonlyMap<string, string>,
  ) {}

  blocks(nodes: readonly RootContent[], separator: string, ctx: Ctx): Token[] {
    const out: Token[] = [];
    for (const node of nodes) {
      const rendered = this.block(node, ctx);
      // A block that shows nothing (an empty code block) would leave only its separator behind.
      if (!rendered.some((token) => token.t === 'atom' || (token.t === 'text' && /\S/.test(token.s)))) continue;
      if (out.length) out.push(text(separator));
      for (const token of rendered) out.push(token);
    }
    return out;
  }

  private block(node: RootContent, ctx: Ctx): Token[] {
    const { style } = this;
    switch (node.type) {
      case 'paragraph':
        return this.inline(node.children, ctx);
      case 'heading': {
        const content = this.inline(node.children, withMark(ctx, 'strong'));
        return content.length ? style.heading(node.depth, content) : [];
      }
      case 'thematicBreak':
        return [atom(style.rule)];
      case 'blockquote':
        return style.quote(this.blocks(node.children, '\n\n', { ...ctx, quoted: true }), ctx.quoted);
      case 'list':
        return this.list(node, ctx);
      case 'code':
        return style.codeBlock(node.value, language(node.lang));
      case 'definition':
        return [];
      case 'html':
        return [text(style.text(node.value))];
      case 'listItem':
        return this.blocks(node.children, '\n', ctx);
      default:
        return this.phrase(node as PhrasingContent, ctx);
    }
  }

  private list(node: List, ctx: Ctx): Token[] {
    const out: Token[] = [];
    node.children.forEach((item, k) => {
      const marker = node.ordered ? `${(node.start ?? 1) + k}. ` : this.style.bullet;
      if (out.length) out.push(text('\n'));
      for (const token of prefixLines(this.blocks(item.children, '\n', ctx), marker, ' '.repeat(marker.length), false)) out.push(token);
    });
    return out;
  }

  private inline(nodes: readonly PhrasingContent[], ctx: Ctx): Token[] {
    return nodes.flatMap((node, i) =>
      this.style.marksAtWordBoundary && isMark(node) && inWord(nodes[i - 1], nodes[i + 1]) ? this.literal(node, ctx) : this.phrase(node, ctx),
    );
  }

  /** A mark the dialect cannot show inside a word, shown as the model wrote it (`2*3*4`), escaped like any text. */
  private literal(node: Extract<PhrasingContent, { type: 'strong' | 'emphasis' | 'delete' }>, ctx: Ctx): Token[] {
    const marker = () => text(this.style.text(WRITTEN[node.type]));
    return [marker(), ...this.inline(node.children, ctx), marker()];
  }

  private phrase(node: PhrasingContent, ctx: Ctx): Token[] {
    const { style } = this;
    switch (node.type) {
      case 'text':
      case 'html':
        return [text(style.text(node.value))];
      case 'strong':
        return this.mark('strong', style.strong, node.children, ctx);
      case 'emphasis':
        return this.mark('emphasis', style.emphasis, node.children, ctx);
      case 'delete':
        return this.mark('strike', style.strike, node.children, ctx);
      case 'inlineCode':
        return style.inlineCode(node.value);
      case 'break':
        return [text('\n')];
      case 'link':
        return this.link(node.url, this.inline(node.children, withMark(ctx, 'link')), toText(node), ctx);
      case 'linkReference': {
        const label = this.inline(node.children, withMark(ctx, 'link'));
        const url = this.definitions.get(node.identifier);
        return url === undefined ? label : this.link(url, label, toText(node), ctx);
      }
      case 'image':
      case 'imageReference': {
        const url = node.type === 'image' ? node.url : this.definitions.get(node.identifier);
        const alt = node.alt ?? '';
        const label = alt ? [text(style.text(alt))] : [];
        return url === undefined ? label : this.link(url, label, alt, ctx);
      }
      default:
        return [text(style.text(toText(node)))];
    }
  }

  private mark(name: string, mark: Mark | undefined, children: PhrasingContent[], ctx: Ctx): Token[] {
    const inner = this.inline(children, withMark(ctx, name));
    return mark && !ctx.marks.has(name) && inner.length ? wrap(mark[0], mark[1], inner) : inner;
  }

  private link(url: string, label: Token[], labelText: string, ctx: Ctx): Token[] {
    const safe = safeUrl(url);
    if (safe === undefined || ctx.marks.has('link')) return label;
    if (!label.length) return this.style.link(safe, [text(this.style.text(url))], undefined);
    // An autolink (`<https://…>`, a bare e-mail address) shows its own URL: no need to repeat it beside the label.
    const bare = [url, safe, url.replace(/^mailto:/i, '')].includes(labelText);
    return this.style.link(safe, label, bare ? undefined : labelText);
  }
}
