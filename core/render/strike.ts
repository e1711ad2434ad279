import type { Nodes, PhrasingContent, Text } from 'mdast';

// Exactly two tildes: `~~~` opens a code fence, never a strikethrough.
const DELIMITER = /(?<!~)~~(?!~)/;

/**
 * remark-parse alone is CommonMark, where `~~x~~` (which LLMs write for strikethrough) is text. This wraps such
 * spans in mdast `delete` nodes, on the tree, following GFM's rule that an opening `~~` is not followed by whitespace
 * and a closing one not preceded by it. Tildes in a text node whose source differs from its value (a backslash escape
 * or a character reference in it) are left literal: the tree no longer says which of them were escaped.
 */
export function strikethrough(node: Nodes, source: string): void {
  if (!('children' in node)) return;
  for (const child of node.children) strikethrough(child, source);
  const candidate = (c: Nodes): c is Text => c.type === 'text' && DELIMITER.test(c.value) && literal(c, source);
  if (!node.children.some(candidate)) return;
  // Text nodes only ever sit among phrasing content.
  const parent = node as { children: PhrasingContent[] };
  parent.children = pair(parent.children, (c): c is Text => candidate(c));
}

function literal(node: Text, source: string): boolean {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  return start !== undefined && end !== undefined && source.slice(start, end) === node.value;
}

const spaceAt = (node: PhrasingContent | null | undefined, side: 'start' | 'end'): boolean =>
  node?.type === 'text' && /\s/.test((side === 'start' ? node.value[0] : node.value.at(-1)) ?? ' ');

function pair(children: PhrasingContent[], candidate: (c: PhrasingContent) => c is Text): PhrasingContent[] {
  const pieces: (PhrasingContent | null)[] = []; // null: a delimiter
  for (const child of children) {
    if (!candidate(child)) {
      pieces.push(child);
      continue;
    }
    child.value.split(DELIMITER).forEach((value, k) => {
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
