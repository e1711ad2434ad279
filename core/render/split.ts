import type { Limit } from './index.js';
import { graphemes } from './graphemes.js';
import type { Style, Token } from './tokens.js';

/**
 * Packs rendered tokens into parts that each fit the platform's limit, counted the way the platform counts, after
 * escaping (Style.counted: on Telegram a tag costs nothing and an entity one character). Text is cut at whitespace
 * (paragraph break, then line break, then sentence end, then word: the best kind in reach, as the design orders them,
 * even when it leaves a short part), otherwise between graphemes, never inside an escape sequence or a surrogate
 * pair. Markup open at a cut is closed at the end of the part and reopened at the start of the next, so every part
 * stands on its own; the room that takes is reserved as the part fills.
 */

type Kind = 'text' | 'ws' | 'atom' | 'open' | 'close';
interface Unit {
  s: string;
  /** What the platform counts of it, in the limit's unit. */
  cost: number;
  /**
   * Its length if it is markup (an open or a close), in the limit's unit, else 0. A part's markup is kept within the
   * limit too; where the platform counts markup, the cost already does that. Telegram does not count tags, but it
   * refuses a message whose entities (the tags, with their URLs) are too large in total: ENTITIES_TOO_LONG, not
   * documented, reported near 9,500 characters of links. Tags within the limit are no more than a part could hold
   * when its whole source was counted. This also bounds the source, escaping being at most 5 units for 1 counted
   * (`&` is `&amp;`): a part is at most 6 times the limit.
   */
  markup: number;
  kind: Kind;
  /** Preformatted: whitespace is content, only a line break is dropped at a cut. */
  code: boolean;
  /** Line breaks in a whitespace unit. */
  nl: number;
  /** An open's close and a close's open. */
  mate: number;
  /** Markup too long to repeat in a part: left out from then on, with its partner. */
  off: boolean;
}

const HARD = 0;
const WORD = 1;
const SENTENCE = 2;
const LINE = 3;
const PARAGRAPH = 4;

// ASCII whitespace only: a no-break space must not become a cut.
const isSpace = (s: string): boolean => (s.length === 1 ? ' \t\n\r\f\v'.includes(s) : s === '\r\n');
const SENTENCE_END = /[.!?…。！？]['"”’»)\]]*$/u;
// Scripts written without spaces still end sentences with these; a cut right after one costs nothing.
const FULL_STOP = /[。！？]$/u;

const measure = (s: string, unit: Limit['unit']): number => (unit === 'utf8' ? Buffer.byteLength(s, 'utf8') : s.length);

function pieces(s: string, atomic: RegExp | undefined): string[] {
  if (!atomic) return graphemes(s);
  const out: string[] = [];
  let last = 0;
  for (const m of s.matchAll(atomic)) {
    for (const g of graphemes(s.slice(last, m.index))) out.push(g);
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  for (const g of graphemes(s.slice(last))) out.push(g);
  return out;
}

function toUnits(tokens: Token[], limit: Limit, style: Pick<Style, 'atomic' | 'counted'>): Unit[] {
  const units: Unit[] = [];
  const opens: number[] = [];
  const counted = style.counted ?? ((s: string) => s);
  const add = (s: string, kind: Kind, code: boolean): void => {
    const cost = measure(counted(s), limit.unit);
    // A grapheme (or a link) longer than a whole part can only be cut; code points keep it well-formed.
    if (cost > limit.max && (kind === 'text' || kind === 'ws' || kind === 'atom')) {
      for (const cp of s) add(cp, isSpace(cp) ? 'ws' : 'text', code);
      return;
    }
    const nl = kind === 'ws' && (s === '\n' || s === '\r' || s === '\r\n') ? 1 : 0;
    const markup = kind === 'open' || kind === 'close' ? measure(s, limit.unit) : 0;
    units.push({ s, cost, markup, kind, code, nl, mate: -1, off: false });
  };
  for (const token of tokens) {
    if (token.t === 'text') {
      for (const piece of pieces(token.s, style.atomic)) add(piece, isSpace(piece) ? 'ws' : 'text', token.code);
    } else if (token.t === 'atom') {
      add(token.s, 'atom', false);
    } else if (token.t === 'open') {
      opens.push(units.length);
      add(token.s, 'open', false);
    } else {
      const open = opens.pop();
      if (open === undefined) throw new Error('render: a close without its open');
      units[open]!.mate = units.length;
      add(token.s, 'close', false);
      units[units.length - 1]!.mate = open;
    }
  }
  if (opens.length) throw new Error('render: an open without its close');
  return units;
}

/** Where a part may end before each unit, how well, and where the next part then starts. */
function breaks(units: Unit[]): { rank: Int8Array; resume: Int32Array } {
  const n = units.length;
  const rank = new Int8Array(n + 1);
  const resume = new Int32Array(n + 1);
  for (let k = 0; k <= n; k++) resume[k] = k;
  for (let j = 0; j < n; j++) {
    const u = units[j]!;
    if (u.kind === 'ws') {
      let end = j;
      let nl = 0;
      let firstBreak = -1;
      while (end < n && units[end]!.kind === 'ws' && units[end]!.code === u.code) {
        if (firstBreak < 0 && units[end]!.nl) firstBreak = end;
        nl += units[end]!.nl;
        end++;
      }
      if (!u.code) {
        rank[j] = nl >= 2 ? PARAGRAPH : nl === 1 ? LINE : endsSentence(units, j) ? SENTENCE : WORD;
        resume[j] = end;
      } else if (firstBreak >= 0) {
        // In code only the line break goes: the next line keeps its indentation.
        rank[firstBreak] = LINE;
        resume[firstBreak] = firstBreak + 1;
      } else {
        rank[j] = WORD;
      }
      j = end - 1;
    } else if (u.kind === 'text' && FULL_STOP.test(u.s) && j + 1 < n && units[j + 1]!.kind !== 'ws') {
      rank[j + 1] = SENTENCE;
    }
  }
  return { rank, resume };
}

function endsSentence(units: Unit[], j: number): boolean {
  let tail = '';
  for (let k = j - 1; k >= 0 && k >= j - 6; k--) {
    const u = units[k]!;
    if (u.kind === 'ws' || u.kind === 'open') break;
    if (u.kind !== 'close') tail = u.s + tail;
  }
  return SENTENCE_END.test(tail);
}

/** What a part takes of the limit, in both measures it must keep within it (see Unit). */
interface Load {
  cost: number;
  markup: number;
}

/** Adds what taking unit `u` costs. An open pays for its close too, so a part can always be closed: a close is free. */
function take(load: Load, units: Unit[], u: Unit): Load {
  if (u.kind === 'close') return load;
  const close = u.kind === 'open' ? units[u.mate]! : undefined;
  load.cost += u.cost + (close?.cost ?? 0);
  load.markup += u.markup + (close?.markup ?? 0);
  return load;
}

const over = (load: Load, max: number): boolean => load.cost > max || load.markup > max;

const switchOff = (units: Unit[], k: number): void => {
  units[k]!.off = true;
  units[units[k]!.mate]!.off = true;
};

/** The best cut for the part starting at `i`, or undefined after switching off markup that left no room. */
function findCut(units: Unit[], rank: Int8Array, resume: Int32Array, i: number, stack: number[], max: number) {
  const live = stack.filter((k) => !units[k]!.off);
  // The part holds the reopened markup, then each unit taken; what is open when it ends is paid for in advance.
  const load: Load = { cost: 0, markup: 0 };
  for (const k of live) take(load, units, units[k]!);
  if (live.length && over(load, max)) return void switchOff(units, live[live.length - 1]!);
  const best = [-1, -1, -1, -1, -1];
  let j = i;
  for (; j < units.length; j++) {
    if (j > i) {
      best[HARD] = j;
      best[rank[j]!] = j;
    }
    const u = units[j]!;
    if (!u.off && over(take(load, units, u), max)) break;
  }
  if (j === units.length) return { at: j, resume: j };
  // The best kind of break in reach wins (DESIGN: paragraph, then sentence, then word), however short the part it
  // leaves; any whitespace beats cutting a word.
  for (let r = PARAGRAPH; r > HARD; r--) if (best[r]! > i) return { at: best[r]!, resume: resume[best[r]!]! };
  if (best[HARD]! > i) return { at: best[HARD]!, resume: best[HARD]! };
  // Not even one unit fits after the reopened markup. Markup that takes half a part by itself (a link to a very long
  // URL) is left out; otherwise the innermost reopened markup is, until something fits.
  const first = units[i]!;
  const hog = first.kind === 'open' && over(take({ cost: 0, markup: 0 }, units, first), max / 2);
  if (live.length && !hog) return void switchOff(units, live[live.length - 1]!);
  if (first.kind === 'open') return void switchOff(units, i);
  throw new Error('render: a unit larger than the limit');
}

/** The text of units [i, end) with the markup open at `i` reopened and what is open at `end` closed. */
function emit(units: Unit[], i: number, end: number, stack: number[]): { part: string | undefined; stack: number[] } {
  const out: string[] = [];
  const open: { k: number; at: number }[] = [];
  const push = (k: number): void => {
    if (units[k]!.off) open.push({ k, at: -1 });
    else open.push({ k, at: out.push(units[k]!.s) - 1 });
  };
  const pop = (): void => {
    const entry = open.pop()!;
    if (entry.at < 0) return;
    // Markup with nothing inside is dropped: `**` alone would show on Slack and WhatsApp.
    if (entry.at === out.length - 1) out.pop();
    else out.push(units[units[entry.k]!.mate]!.s);
  };
  for (const k of stack) push(k);
  let content = false;
  for (let k = i; k < end; k++) {
    const u = units[k]!;
    if (u.kind === 'open') push(k);
    else if (u.kind === 'close') pop();
    else {
      out.push(u.s);
      // A part of nothing but (even no-break) spaces is refused by the platforms; whitespace is trimmed there anyway.
      content ||= u.kind !== 'ws' && /\S/.test(u.s);
    }
  }
  const next = open.map((e) => e.k);
  while (open.length) pop();
  return { part: content ? out.join('') : undefined, stack: next };
}

const trimmable = (u: Unit | undefined): boolean => u !== undefined && u.kind === 'ws' && !u.code;

export function split(tokens: Token[], limit: Limit, style: Pick<Style, 'atomic' | 'counted'> = {}): string[] {
  const units = toUnits(tokens, limit, style);
  const { rank, resume } = breaks(units);
  const parts: string[] = [];
  let stack: number[] = [];
  let i = 0;
  while (i < units.length) {
    const cut = findCut(units, rank, resume, i, stack, limit.max);
    if (!cut) continue; // some markup was switched off: each retry switches off one more, so this ends
    let end = cut.at;
    // Whitespace is trimmed at a cut, and only there.
    if (cut.at < units.length) while (end > i && trimmable(units[end - 1])) end--;
    const { part, stack: next } = emit(units, i, end, stack);
    if (part !== undefined) parts.push(part);
    stack = next;
    i = cut.resume;
    while (trimmable(units[i])) i++;
  }
  return parts;
}
