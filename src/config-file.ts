import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, LIFECYCLE_EVENTS, parseConfig, pipelineEntry, type Config } from '../core/config.js';
import { plugOptions } from '../core/plug.js';
import { builtinPlugs } from '../plugs/index.js';

const DEFAULT_FILES = ['monkeyclaw.config.yaml', 'monkeyclaw.config.yml', 'monkeyclaw.config.json'];

/**
 * Loads the config: the named file (it must exist), else ./monkeyclaw.config.yaml, else JSON, else built-in
 * defaults. YAML and JSON parse errors and schema errors all become ConfigError naming the file and field.
 */
export function loadConfig(explicit: string | undefined, cwd = process.cwd()): { config: Config; source: string } {
  const file = explicit ? resolve(cwd, explicit) : DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (!file) return { config: parseConfig({}, 'built-in defaults'), source: 'built-in defaults' };
  if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`);
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${file} cannot be parsed: ${(error as Error).message}`);
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
