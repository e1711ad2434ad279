/**
 * What a dialect renders a reply into before it is split: escaped text and balanced markup. The splitter works on
 * these tokens rather than on the final string, so it can close open markup at a cut and reopen it in the next part.
 */
export type Token =
  /** Escaped text; `code` marks preformatted text, whose whitespace is content (see split.ts). */
  | { t: 'text'; s: string; code: boolean }
  /** Markup that is never cut and has no partner, such as a list bullet or a quote prefix. */
  | { t: 'atom'; s: string }
  | { t: 'open'; s: string; close: string }
  | { t: 'close'; s: string };

export const text = (s: string, code = false): Token => ({ t: 'text', s, code });
export const atom = (s: string): Token => ({ t: 'atom', s });

/** The only way markup pairs are made, so every open has its close. */
export function wrap(open: string, close: string, inner: Token[]): Token[] {
  return [{ t: 'open', s: open, close }, ...inner, { t: 'close', s: close }];
}

/**
 * Puts `first` before the first line and `rest` before every later one (list indents, `> ` quote prefixes).
 * Preformatted text is left alone unless `intoCode`: a list indent would change the code, a quote prefix keeps it quoted.
 */
export function prefixLines(tokens: Token[], first: string, rest: string, intoCode: boolean): Token[] {
  // An indent is whitespace, so a cut after the line break drops it as well; a marker such as `> ` is kept.
  const lead = (s: string): Token => (/^[ ]+$/.test(s) ? text(s) : atom(s));
  const out: Token[] = first ? [lead(first)] : [];
  for (const token of tokens) {
    if (token.t !== 'text' || (token.code && !intoCode) || !token.s.includes('\n')) {
      out.push(token);
      continue;
    }
    token.s.split('\n').forEach((line, k) => {
      if (k > 0) out.push(text('\n', token.code), lead(rest));
      if (line) out.push(text(line, token.code));
    });
  }
  return out;
}

export type Mark = readonly [open: string, close: string];

/** How one dialect writes plain text and markdown's tree. */
export interface Style {
  /** Escapes text so the platform shows it exactly as typed: used for plain replies and markdown's text nodes. */
  text(value: string): string;
  strong?: Mark;
  emphasis?: Mark;
  strike?: Mark;
  /** The marks format only at a word boundary (Slack, WhatsApp): inside a word they are shown as written (`2*3*4`). */
  marksAtWordBoundary?: boolean;
  inlineCode(value: string): Token[];
  codeBlock(value: string, lang: string | undefined): Token[];
  /**
   * `url` is already checked (http, https or mailto) and normalized; `label` is never empty. `labelText` is the
   * label's raw text, undefined when the label is the URL itself (an autolink).
   */
  link(url: string, label: Token[], labelText: string | undefined): Token[];
  heading(depth: number, content: Token[]): Token[];
  quote(content: Token[], nested: boolean): Token[];
  bullet: string;
  rule: string;
  /** Escape sequences the splitter must never cut inside (a global regex), e.g. `&amp;` or `\*`. */
  atomic?: RegExp;
  /**
   * The text the platform counts against its limit in a piece of rendered output, when that is not the piece
   * itself: Telegram counts what its HTML parser leaves (no tags, an entity as one character). Never less than the
   * platform counts. Without it, the output is counted as sent.
   */
  counted?(rendered: string): string;
}

/** A link for dialects that cannot hide a URL behind a label: `label (url)`, or the label alone when it is the URL. */
export function linkAsText(url: string, label: Token[], labelText: string | undefined, escape: (s: string) => string): Token[] {
  if (labelText === undefined) return label;
  return [...label, text(` (${escape(url.replace(/^mailto:/i, ''))})`)];
}
