import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, LIFECYCLE_EVENTS, parseConfig, pipelineEntry, type Config } from '../core/config.js';
import { plugOptions } from '../core/plug.js';
import { builtinPlugs } from '../plugs/index.js';

const DEFAULT_FILES = ['monkeyclaw.config.yaml', 'monkeyclaw.config.yml', 'monkeyclaw.config.json'];

/**
 * Loads the config: the named file (it must exist), else ./monkeyclaw.config.yaml, else JSON, else built-in
 * defaults. YAML and JSON parse errors and schema errors all become ConfigError naming the file and field.
 */
export function loadConfig(explicit: string | undefined, cwd = process.cwd()): { config: Config; source: string } {
  // `--config "$CFG"` with CFG unset must not quietly run another config, or none.
  if (explicit !== undefined && explicit.trim() === '') throw new ConfigError('--config: must name a file, not be empty');
  const file = explicit ? resolve(cwd, explicit) : DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (!file) return { config: parseConfig({}, 'built-in defaults'), source: 'built-in defaults' };
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  const text = readConfigText(file);
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? parseJson(text) : parseYamlStrictly(text);
  } catch (error) {
    // The YAML parser adds an excerpt of the file with a caret under the spot: the line and column say where.
    const reason = (error as Error).message.split('\n')[0]!.replace(/:$/, '');
    throw new ConfigError(`${file} cannot be parsed: ${reason}`);
  }
  let config: Config;
  try {
    config = parseConfig(raw ?? {}, file);
  } catch (error) {
    // Reported together with the schema's findings, so one edit fixes all of them.
    const plugs = error instanceof ConfigError ? pipelineProblems(raw) : [];
    throw plugs.length ? new ConfigError(`${(error as Error).message}\n${plugs.join('\n')}`) : error;
  }
  const problems = pipelineProblems(config);
  if (problems.length) throw new ConfigError(`${file} is invalid:\n${problems.join('\n')}`);
  return { config, source: file };
}

/** A config is a few kilobytes; a file far past that is a mistake (`--config /dev/zero`), not one to read whole. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The file's text, read no further than the limit, as strict UTF-8: a byte that is not UTF-8 would otherwise become
 * U+FFFD in a system prompt without a word, and UTF-16 read as UTF-8 fails with nothing said about why.
 */
function readConfigText(file: string): string {
  const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
  let size = 0;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    for (let n; size < buffer.length && (n = readSync(fd, buffer, size, buffer.length - size, null)) > 0; ) size += n;
  } catch (error) {
    throw new ConfigError(`${file} cannot be read: ${(error as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(`${file} is over ${MAX_CONFIG_BYTES / 1024 / 1024} MiB: that is no config file`);
  const bytes = buffer.subarray(0, size);
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) throw new ConfigError(`${file} is UTF-16 text: save it as UTF-8`);
  try {
    // A UTF-8 byte order mark is dropped (ignoreBOM false), as editors on Windows write one.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`${file} is not UTF-8 text: save it as UTF-8`);
  }
}

/**
 * YAML, where a tag the parser cannot resolve (`!!js/function`) is an error, not a warning Node prints over several
 * lines with the value read as a plain string: nothing in a config needs a tag.
 */
function parseYamlStrictly(text: string): unknown {
  const doc = parseDocument(text, { logLevel: 'silent' });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw problem;
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
}

/**
 * JSON as JSON.parse reads it, except that a key written twice is refused, as YAML refuses it: with the last one
 * silently winning, a pasted `"access"` section could open the gateway to everyone without a word.
 */
function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const duplicate = parseDocument(text, { uniqueKeys: true }).errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (duplicate) {
    const key = /^"((?:[^"\\]|\\.)*)"/.exec(text.slice(duplicate.pos[0]))?.[1];
    const at = duplicate.linePos?.[0];
    throw new Error(`key ${key !== undefined ? `"${key}" ` : ''}written twice${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
  }
  return value;
}

/**
 * Every pipeline entry names a built-in plug with options it accepts: a typo or a bad limit is a config error at
 * load, naming its field, not a worker that cannot start. Read from the parsed config, or from the raw file when
 * the schema refused it elsewhere (entries that are not plug entries at all are the schema's to report).
 */
function pipelineProblems(config: unknown): string[] {
  const known = builtinPlugs();
  const lines: string[] = [];
  const assistants = (config as { assistants?: unknown } | null)?.assistants;
  if (typeof assistants !== 'object' || assistants === null) return lines;
  for (const [assistant, a] of Object.entries(assistants)) {
    for (const stage of LIFECYCLE_EVENTS) {
      const entries = (a as { pipelines?: Record<string, unknown> } | null)?.pipelines?.[stage];
      if (!Array.isArray(entries)) continue;
      entries.forEach((entry, i) => {
        const parsed = pipelineEntry.safeParse(entry);
        if (!parsed.success) return;
        try {
          plugOptions(parsed.data, known, stage);
        } catch (error) {
          lines.push(`  assistants.${assistant}.pipelines.${stage}.${i}: ${(error as Error).message}`);
        }
      });
    }
  }
  return lines;
}
