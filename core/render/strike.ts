import type { Nodes, PhrasingContent, Text } from 'mdast';

// Exactly two tildes, not escaped: `~~~` opens a code fence, `\~~` is a literal tilde and a single one.
const DELIMITER = /(?<![\\~])~~(?!~)/;
const ESCAPE = /\\([!-/:-@[-`{-~])/g;

/**
 * remark-parse alone is CommonMark, where `~~x~~` (which LLMs write for strikethrough) is text. This wraps such
 * spans in mdast `delete` nodes, on the tree, following GFM's rule that an opening `~~` is not followed by whitespace
 * and a closing one not preceded by it. Delimiters are found in the node's source, where escapes are still visible;
 * a node whose source is more than its value plus backslash escapes (a character reference, an indented
 * continuation line) keeps its tildes literal.
 */
export function strikethrough(node: Nodes, source: string): void {
  if (!('children' in node)) return;
  for (const child of node.children) strikethrough(child, source);
  const split = (c: Nodes): string[] | undefined => {
    if (c.type !== 'text' || !c.value.includes('~~')) return undefined;
    const raw = sourceOf(c, source);
    return raw !== undefined && DELIMITER.test(raw) ? raw.split(DELIMITER).map((p) => p.replace(ESCAPE, '$1')) : undefined;
  };
  if (!node.children.some((c) => split(c) !== undefined)) return;
  // Text nodes only ever sit among phrasing content.
  const parent = node as { children: PhrasingContent[] };
  parent.children = pair(parent.children, split);
}

function sourceOf(node: Text, source: string): string | undefined {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  if (start === undefined || end === undefined) return undefined;
  const raw = source.slice(start, end);
  return raw.replace(ESCAPE, '$1') === node.value ? raw : undefined;
}

const spaceAt = (node: PhrasingContent | null | undefined, side: 'start' | 'end'): boolean =>
  node?.type === 'text' && /\s/.test((side === 'start' ? node.value[0] : node.value.at(-1)) ?? ' ');

function pair(children: PhrasingContent[], split: (c: PhrasingContent) => string[] | undefined): PhrasingContent[] {
  const pieces: (PhrasingContent | null)[] = []; // null: a delimiter
  for (const child of children) {
    const values = split(child);
    if (!values) {
      pieces.push(child);
      continue;
    }
    values.forEach((value, k) => {
      if (k > 0) pieces.push(null);
      if (value) pieces.push({ type: 'text', value });
    });
  }
  const out: PhrasingContent[] = [];
  let open = -1;
  pieces.forEach((piece, k) => {
    if (piece !== null) {
      out.push(piece);
    } else if (open >= 0 && out.length > open && !spaceAt(out.at(-1), 'end')) {
      out.push({ type: 'delete', children: out.splice(open) });
      open = -1;
    } else if (open < 0 && pieces[k + 1] && !spaceAt(pieces[k + 1], 'start')) {
      open = out.length;
    } else {
      out.push({ type: 'text', value: '~~' });
    }
  });
  if (open >= 0) out.splice(open, 0, { type: 'text', value: '~~' });
  return out;
}
