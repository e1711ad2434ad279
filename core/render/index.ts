import { discord } from './discord.js';
import { html } from './html.js';
import { renderMarkdown } from './markdown.js';
import { plain } from './plain.js';
import { slack, slackText } from './slack.js';
import { split } from './split.js';
import { telegram } from './telegram.js';
import { type Style, text as textToken, type Token } from './tokens.js';
import { whatsapp } from './whatsapp.js';

/**
 * Outbound rendering: a reply's text, plain (shown exactly as typed) or markdown (from an LLM), written in a
 * platform's markup and split into messages the platform accepts. See README.md in this folder for the decisions.
 */

export type Dialect = 'telegram-html' | 'slack-mrkdwn' | 'slack-text' | 'discord' | 'whatsapp' | 'plain' | 'html';
export interface Limit {
  max: number;
  unit: 'utf16' | 'utf8';
}
export type Platform = 'telegram' | 'slack' | 'discord' | 'whatsapp' | 'signal' | 'email';

const limit = (max: number, unit: Limit['unit']): Limit => Object.freeze({ max, unit });

/**
 * Each platform's limit per message, as it counts it (DESIGN, platform facts). Slack's is its advice, not its hard
 * limit (40,000): pass `{ ...PLATFORM_LIMITS.slack, max: maxMessageChars }` to change it. E-mail has no practical
 * limit; 10 MB is what SMTP servers commonly accept in a whole message.
 */
export const PLATFORM_LIMITS: Record<Platform, Limit> = Object.freeze({
  telegram: limit(4096, 'utf16'),
  slack: limit(4000, 'utf16'),
  discord: limit(2000, 'utf16'),
  whatsapp: limit(65_536, 'utf16'),
  signal: limit(2000, 'utf8'),
  email: limit(10_000_000, 'utf8'),
});

/** The dialect each platform's connector renders into. Signal styles are ranges, not markup, so Signal gets plain. */
export const PLATFORM_DIALECTS: Record<Platform, Dialect> = Object.freeze({
  telegram: 'telegram-html',
  slack: 'slack-mrkdwn',
  discord: 'discord',
  whatsapp: 'whatsapp',
  signal: 'plain',
  email: 'plain',
});

const STYLES: Record<Dialect, Style> = {
  'telegram-html': telegram,
  'slack-mrkdwn': slack,
  'slack-text': slackText,
  discord,
  whatsapp,
  plain,
  html,
};

/** Below this, one code point with its reopened markup may not fit; no platform comes near it. */
const MIN_LIMIT = 16;

/**
 * Renders a reply for a platform and splits it into parts, each within the limit as the platform counts it after
 * rendering and escaping (on Telegram, the text its HTML parser leaves: see Style.counted). Parts are in order, carry
 * no added markers ("(1/3)"), and each is well-formed on its own.
 * Text with nothing visible (empty or only whitespace) yields no parts: the platforms refuse empty messages.
 */
export function renderReply(text: string, format: 'plain' | 'markdown', dialect: Dialect, limit: Limit): string[] {
  const style = STYLES[dialect];
  if (!style) throw new TypeError(`renderReply: unknown dialect ${JSON.stringify(dialect)}`);
  if (!Number.isSafeInteger(limit.max) || limit.max < MIN_LIMIT || (limit.unit !== 'utf16' && limit.unit !== 'utf8')) {
    throw new RangeError(`renderReply: limit must be an integer of at least ${MIN_LIMIT} utf16 or utf8 units`);
  }
  if (!/\S/.test(text)) return [];
  return split(tokensOf(text, format, style), limit, style);
}

/** A reply rendered whole, for a surface with no limit per message (the dashboard's `html`). */
export function renderWhole(text: string, format: 'plain' | 'markdown', dialect: Dialect): string {
  return tokensOf(text, format, STYLES[dialect]).map((token) => token.s).join('');
}

/**
 * A reply in a dialect's tokens. Markdown nested thousands deep (`> > > …`, which a model can be asked to write)
 * overflows the stack of the parser or the renderer's walk over its tree, and costs seconds well before that: such
 * a reply is shown as typed rather than lost to a retry that fails alike; a line scan finds nearly all of it before
 * any parsing.
 */
function tokensOf(text: string, format: 'plain' | 'markdown', style: Style): Token[] {
  // A lone surrogate cannot be sent (or counted) reliably; Reply validation refuses them, this keeps other callers safe.
  const source = text.toWellFormed();
  const asText = () => [textToken(style.text(source))];
  if (format !== 'markdown' || nestedDeeperThan(source, MAX_NESTING)) return asText();
  try {
    return renderMarkdown(source, style);
  } catch (error) {
    if (error instanceof RangeError) return asText();
    throw error;
  }
}

/** Deeper than any reply means to nest: quotes in lists in quotes… */
const MAX_NESTING = 32;
// One container marker at a line's start: a quote (`>`, a space optional), a bullet or an ordered item number.
const CONTAINER = /^[ \t]*(?:>|(?:[*+-]|\d{1,9}[.)])(?=[ \t]|$))/;

function nestedDeeperThan(source: string, max: number): boolean {
  for (const line of source.split('\n')) {
    let rest = line;
    for (let depth = 0, m = CONTAINER.exec(rest); m; m = CONTAINER.exec(rest)) {
      if (++depth > max) return true;
      rest = rest.slice(m[0].length);
    }
  }
  return false;
}
