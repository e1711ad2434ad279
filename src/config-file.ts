import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, LIFECYCLE_EVENTS, parseConfig, type Config } from '../core/config.js';
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
  const config = parseConfig(raw ?? {}, file);
  checkPipelines(config, file);
  return { config, source: file };
}

/**
 * Every pipeline entry names a built-in plug with options it accepts: a typo or a bad limit is a config error at
 * load, naming its field, not a worker that cannot start.
 */
function checkPipelines(config: Config, source: string): void {
  const known = builtinPlugs();
  const lines: string[] = [];
  for (const [assistant, a] of Object.entries(config.assistants)) {
    for (const stage of LIFECYCLE_EVENTS) {
      a.pipelines[stage].forEach((entry, i) => {
        try {
          plugOptions(entry, known);
        } catch (error) {
          lines.push(`  assistants.${assistant}.pipelines.${stage}.${i}: ${(error as Error).message}`);
        }
      });
    }
  }
  if (lines.length) throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
}
