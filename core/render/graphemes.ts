/**
 * An approximation of extended grapheme clusters: a code point with its combining marks, emoji modifiers, tags,
 * Hangul vowel and final jamo, and ZWJ sequences; flag pairs; CR LF. Intl.Segmenter is exact but quadratic on long
 * strings in Node 20 (seconds for 40,000 characters), and a reply may be 100,000. Never inside a code point.
 */
const GRAPHEME = /\r\n|\p{Regional_Indicator}{2}|[^](?:[\p{M}\u1160-\u11ff\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]|\u200d\p{Extended_Pictographic}?)*/gu;
export const graphemes = (s: string): string[] => s.match(GRAPHEME) ?? [];
