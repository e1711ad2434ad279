import type { Root, RootContent } from 'mdast';
import remarkParse from 'remark-parse';
import { unified } from 'unified';
import { graphemes } from './graphemes.js';
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
// A fence opens with three backticks (and no backtick after them on the line) or three tildes, indented 0-3 spaces.
const OPENER = /^ {0,3}(`{3,}(?!.*`)|~{3,})/;
const FENCE = /^(`{3,}(?!.*`)|~{3,})/;
const closes = (line: string, fence: string): boolean => {
  const run = /^ {0,3}(`+|~+)[ \t]*\r?$/.exec(line)?.[1];
  return run !== undefined && run.startsWith(fence);
};
// Link reference definitions are repeated in every piece so that references resolve across pieces.
const DEFINITION = /^ {0,3}\[(?:[^\]\\\n]|\\.)+\]:[ \t]*\S.*$/gm;

interface Piece {
  text: string;
  /** Pieces cut from one block share its number, and are joined back into one node. */
  block?: number;
  /** What stood between this piece and the one before in the source, where it was cut out of a line: a space or nothing. */
  glue?: string;
}

export function parseMarkdown(source: string): Root {
  if (source.length <= PIECE) return parsePiece(source);
  const definitions = (source.match(DEFINITION) ?? []).join('\n');
  const root: Root = { type: 'root', children: [] };
  let previous: Piece | undefined;
  for (const piece of pieces(source)) {
    // Before the piece: after it, an unclosed fence would swallow them.
    const tree = parsePiece(definitions ? `${definitions}\n\n${piece.text}` : piece.text);
    const children = tree.children.filter((child) => child.type !== 'definition');
    const last = root.children.at(-1);
    if (piece.block !== undefined && piece.block === previous?.block && last && children[0] && join(last, children[0], piece.glue ?? '\n')) {
      children.shift();
    }
    for (const child of children) root.children.push(child);
    previous = piece;
  }
  if (definitions) for (const child of parsePiece(definitions).children) root.children.push(child);
  return root;
}

/**
 * The line that closes the fence a source leaves open at its end (its indent and run of backticks or tildes: a fence
 * in a list item is closed inside the item); undefined for none.
 */
export function openFenceAtEnd(source: string): string | undefined {
  let fence: { indent: string; run: string } | undefined;
  for (const line of source.split('\n')) {
    const opener = fence === undefined ? OPENER.exec(line) : null;
    if (opener) fence = { indent: /^ */.exec(line)![0], run: opener[1]! };
    else if (fence !== undefined && closes(line, fence.run)) fence = undefined;
  }
  return fence && fence.indent + fence.run;
}

/**
 * Joins the two halves of a block that was cut to be parsed; false when they did not parse as one kind. `glue` is
 * what stood between them: a line break, or, inside a line too long for one piece, a space or nothing.
 */
function join(last: RootContent, first: RootContent, glue: string): boolean {
  if (last.type === 'code' && first.type === 'code') last.value += `\n${first.value}`;
  else if (last.type === 'paragraph' && first.type === 'paragraph') {
    if (glue) last.children.push({ type: 'text', value: glue });
  }
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

/**
 * Top-level blocks, told apart only where that is certain: outside a fence, a line at the margin starts a block after
 * a blank line, and a fence at the margin starts one and ends it with its closing line. (A line at the margin after a
 * blank line cannot continue a paragraph, a list item or a quote.)
 */
function blocks(source: string): string[][] {
  const out: string[][] = [[]];
  let fence: { run: string; margin: boolean } | undefined;
  let blank = false;
  for (const line of source.split('\n')) {
    const current = out[out.length - 1]!;
    const opener = fence === undefined ? OPENER.exec(line)?.[1] : undefined;
    const margin = /^\S/.test(line);
    if (current.length && fence === undefined && margin && (blank || opener !== undefined)) out.push([line]);
    else current.push(line);
    if (opener !== undefined) fence = { run: opener, margin };
    else if (fence !== undefined && closes(line, fence.run)) {
      if (fence.margin) out.push([]);
      fence = undefined;
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
      for (const part of cutBlock(lines)) out.push({ ...part, block: n });
    } else {
      if (text.length + block.length + 1 > PIECE) flush();
      text = text ? `${text}\n${block}` : block;
    }
  });
  flush();
  return out;
}

/** A block too long to parse at once, cut at line breaks: a fenced block is fenced again in every part. */
function cutBlock(block: string[]): Array<{ text: string; glue?: string }> {
  const fence = FENCE.exec(block[0]!)?.[1];
  return fence === undefined ? cutProse(block) : cutFence(block, fence).map((text) => ({ text }));
}

function cutFence(block: string[], fence: string): string[] {
  const lines = block.slice(1);
  const close = lines.length && closes(lines[lines.length - 1]!, fence) ? lines.pop()! : fence;
  const out: string[] = [];
  let part: string[] = [];
  let size = 0;
  for (const line of lines) {
    if (part.length && size + line.length + 1 > PIECE) {
      out.push([block[0], ...part, close].join('\n'));
      part = [];
      size = 0;
    }
    part.push(line);
    size += line.length + 1;
  }
  out.push([block[0], ...part, close].join('\n'));
  return out;
}

/** A piece of a line: `glue` is what stood before it, a line break (a line of its own) or, cut out of a line, a space or nothing. */
interface Segment {
  text: string;
  glue: string;
}
const joined = (segments: Segment[]): string => segments.map((s, i) => (i === 0 ? s.text : s.glue + s.text)).join('');

/** Cut between lines, never inside a fence, preferably before a line at the margin (a new list item, say). */
function cutProse(block: string[]): Array<{ text: string; glue?: string }> {
  const lines: Array<Segment & { cut: boolean; margin: boolean }> = [];
  let open: string | undefined;
  for (const line of block) {
    if (open !== undefined) {
      lines.push({ text: line, glue: '\n', cut: false, margin: false });
      if (closes(line, open)) open = undefined;
      continue;
    }
    open = OPENER.exec(line)?.[1];
    const segments = open === undefined ? cutLine(line) : [{ text: line, glue: '\n' }];
    for (const segment of segments) lines.push({ ...segment, cut: true, margin: segment.glue === '\n' && /^\S/.test(segment.text) });
  }
  const out: Array<{ text: string; glue?: string }> = [];
  const piece = (from: number, to: number) => ({ text: joined(lines.slice(from, to)), ...(from > 0 ? { glue: lines[from]!.glue } : {}) });
  let start = 0;
  let size = 0;
  let margin = -1;
  lines.forEach(({ text, cut }, k) => {
    if (k > start && cut && size + text.length + 1 > PIECE) {
      const at = margin > start ? margin : k;
      out.push(piece(start, at));
      size = lines.slice(at, k).reduce((sum, line) => sum + line.text.length + 1, 0);
      start = at;
    }
    if (k > start && cut && lines[k]!.margin) margin = k;
    size += text.length + 1;
  });
  out.push(piece(start, lines.length));
  return out;
}

/**
 * Prose lines longer than a piece are cut at a space before a letter (what follows must not start a list item or a
 * heading), else at any space before something that opens no block, else between graphemes (before the same).
 * The space a cut falls on becomes the next segment's glue, so joining the segments gives the line back. Code lines
 * are never cut.
 */
function cutLine(line: string): Segment[] {
  const out: Segment[] = [];
  let glue = '\n';
  while (line.length > PIECE) {
    let at = line.lastIndexOf(' ', PIECE);
    while (at > 0 && !/^\p{L}/u.test(line.slice(at + 1, at + 3))) at = line.lastIndexOf(' ', at - 1);
    if (at <= 0) at = line.lastIndexOf(' ', PIECE);
    while (at > 0 && opensBlock(line.slice(at + 1, at + 12))) at = line.lastIndexOf(' ', at - 1);
    if (at > 0) {
      out.push({ text: line.slice(0, at), glue });
      [line, glue] = [line.slice(at + 1), ' '];
      continue;
    }
    // No space to cut at: the last grapheme boundary within the piece where what follows opens no block.
    let end = 0;
    let cut = 0;
    for (const g of graphemes(line.slice(0, PIECE + 64))) {
      if (end > 0 && end + g.length > PIECE) break;
      end += g.length;
      if (!opensBlock(line.slice(end, end + 12))) cut = end;
    }
    if (cut === 0) cut = end;
    out.push({ text: line.slice(0, cut), glue });
    [line, glue] = [line.slice(cut), ''];
  }
  out.push({ text: line, glue });
  return out;
}

/** Whether text at the start of a line could open a block (quote, heading, list, rule, fence, HTML, table). */
const opensBlock = (start: string): boolean => /^(?:[>#+*=<|~`_-]|\d{1,9}[.)])/.test(start);
