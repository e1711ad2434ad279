import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseConfig, type Config } from '../core/config.js';

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
  return { config: parseConfig(raw ?? {}, file), source: file };
}
