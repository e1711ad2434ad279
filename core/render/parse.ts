import type { Root, RootContent } from 'mdast';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import { strikethrough } from './strike.js';

/**
 * Parses markdown with remark-parse. micromark's cost grows faster than linearly with the size of a block (a
 * paragraph with 25,000 emphasis marks takes seconds to parse), and a reply may be 100,000 characters that a model
 * was steered into writing. So a long source is parsed in pieces of at most PIECE characters, cut only where a
 * top-level block starts; a block longer than that is cut at line breaks (a fenced code block is fenced again in
 * each piece and joined back into one node). Replies under PIECE characters, nearly all of them, parse whole.
 */

export const PIECE = 8_000;

const parser = unified().use(remarkParse);
const FENCE = /^(`{3,}|~{3,})/;
const closes = (line: string, fence: string): boolean => line.startsWith(fence) && /^(`+|~+)[ \t]*\r?$/.test(line);
// Link reference definitions are repeated in every piece so that references resolve across pieces.
const DEFINITION = /^ {0,3}\[(?:[^\]\\\n]|\\.)+\]:[ \t]*\S.*$/gm;

interface Piece {
  text: string;
  /** Pieces cut from one block share its number, and are joined back into one node. */
  block?: number;
}

export function parseMarkdown(source: string): Root {
  if (source.length <= PIECE) return parsePiece(source);
  const definitions = (source.match(DEFINITION) ?? []).join('\n');
  const root: Root = { type: 'root', children: [] };
  let previous: Piece | undefined;
  for (const piece of pieces(source)) {
    const tree = parsePiece(definitions ? `${piece.text}\n\n${definitions}` : piece.text);
    const children = tree.children.filter((child) => child.type !== 'definition');
    const last = root.children.at(-1);
    if (piece.block !== undefined && piece.block === previous?.block && last && children[0] && join(last, children[0])) {
      children.shift();
    }
    for (const child of children) root.children.push(child);
    previous = piece;
  }
  if (definitions) for (const child of parsePiece(definitions).children) root.children.push(child);
  return root;
}

/** Joins the two halves of a block that was cut to be parsed; false when they did not parse as one kind. */
function join(last: RootContent, first: RootContent): boolean {
  if (last.type === 'code' && first.type === 'code') last.value += `\n${first.value}`;
  else if (last.type === 'paragraph' && first.type === 'paragraph') last.children.push({ type: 'text', value: '\n' });
  else if (!(last.type === 'blockquote' && first.type === 'blockquote') && !(last.type === 'list' && first.type === 'list')) {
    return false;
  }
  if ('children' in last && 'children' in first) for (const child of first.children) (last.children as unknown[]).push(child);
  return true;
}

function parsePiece(text: string): Root {
  const tree = parser.parse(text);
  strikethrough(tree, text);
  return tree;
}

/** Top-level blocks: a fence at the margin starts one and its closing line ends it; a blank line before text at the margin ends one. */
function blocks(source: string): string[][] {
  const out: string[][] = [[]];
  let fence: string | undefined;
  let blank = false;
  for (const line of source.split('\n')) {
    const current = out[out.length - 1]!;
    const opener = fence === undefined ? FENCE.exec(line)?.[1] : undefined;
    if (current.length && (opener !== undefined || (blank && fence === undefined && /^\S/.test(line)))) out.push([line]);
    else current.push(line);
    if (opener !== undefined) fence = opener;
    else if (fence !== undefined && closes(line, fence)) {
      fence = undefined;
      out.push([]);
    }
    blank = /^[ \t]*\r?$/.test(line);
  }
  return out.filter((block) => block.length);
}

function pieces(source: string): Piece[] {
  const out: Piece[] = [];
  let text = '';
  const flush = (): void => {
    if (text) out.push({ text });
    text = '';
  };
  blocks(source).forEach((lines, n) => {
    const block = lines.join('\n');
    if (block.length > PIECE) {
      flush();
      for (const part of cutBlock(lines)) out.push({ text: part, block: n });
    } else {
      if (text.length + block.length + 1 > PIECE) flush();
      text = text ? `${text}\n${block}` : block;
    }
  });
  flush();
  return out;
}

/** A block too long to parse at once, cut at line breaks; a fenced block keeps its fence in every part. */
function cutBlock(block: string[]): string[] {
  const lines = [...block];
  const fence = FENCE.exec(lines[0]!)?.[1];
  const open = fence !== undefined ? lines.shift()! : '';
  const close = fence !== undefined && lines.length && closes(lines[lines.length - 1]!, fence) ? lines.pop()! : fence ?? '';
  const out: string[] = [];
  let part: string[] = [];
  let size = 0;
  const flush = (): void => {
    // Outside code, cut before the last line at the margin (a new list item, say) rather than inside an item.
    const at = fence === undefined ? part.findLastIndex((line, k) => k > 0 && /^\S/.test(line)) : -1;
    const rest = at > 0 ? part.splice(at) : [];
    if (part.length) out.push(fence !== undefined ? [open, ...part, close].join('\n') : part.join('\n'));
    part = rest;
    size = rest.reduce((sum, line) => sum + line.length + 1, 0);
  };
  for (const line of fence !== undefined ? lines : lines.flatMap(cutLine)) {
    if (size + line.length + 1 > PIECE) flush();
    part.push(line);
    size += line.length + 1;
  }
  while (part.length) flush();
  return out;
}

/**
 * Prose lines longer than a piece are cut at a space before a letter (what follows must not start a list item or a
 * heading), else at any space, else between code points. Code lines are never cut.
 */
function cutLine(line: string): string[] {
  const out: string[] = [];
  while (line.length > PIECE) {
    let at = line.lastIndexOf(' ', PIECE);
    while (at > 0 && !/^\p{L}/u.test(line.slice(at + 1, at + 3))) at = line.lastIndexOf(' ', at - 1);
    if (at <= 0) at = line.lastIndexOf(' ', PIECE);
    if (at <= 0) at = /[\ud800-\udbff]/.test(line[PIECE - 1]!) ? PIECE - 1 : PIECE;
    out.push(line.slice(0, at));
    line = line.slice(at);
  }
  out.push(line);
  return out;
}
