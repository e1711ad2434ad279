import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/config.js';
import { loadConfig } from '../../src/config-file.js';
import { tempDir } from '../helpers/tmp.js';

const dirs: Array<{ remove(): void }> = [];
afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

function file(name: string, content: string | Buffer): string {
  const tmp = tempDir('mc-config-');
  dirs.push(tmp);
  const path = join(tmp.dir, name);
  writeFileSync(path, content);
  return path;
}

const errorOf = (path: string): string => {
  try {
    loadConfig(path);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loaded');
};

describe('the config file as read from disk', () => {
  it('refuses a key written twice in JSON, as YAML does: the last one used to win without a word', () => {
    const twice = file('c.json', '{"access": {"dm": "open"},\n "access": {"dm": "pairing"}}');
    expect(errorOf(twice)).toMatch(/c\.json cannot be parsed: key "access" written twice \(line 2, column 2\)$/);
    const yaml = file('c.yaml', 'access: {dm: open}\naccess: {dm: pairing}\n');
    // A tag nothing in a config needs is refused, not read as a string with a warning printed over several lines.
    expect(errorOf(file('tag.yaml', 'server: !!js/function "x"\n'))).toMatch(/tag\.yaml cannot be parsed: Unresolved tag: tag:yaml\.org,2002:js\/function at line 1, column 9$/);
    // One line, where the parser's own message adds an excerpt of the file and a caret.
    expect(errorOf(yaml)).toMatch(/c\.yaml cannot be parsed: Map keys must be unique at line 2, column 1$/);
    // The same key in two different objects is no duplicate; JSON's own syntax errors are JSON's words.
    const fine = file('ok.json', '{"access": {"dm": "open", "allow": ["telegram:1"]}, "server": {"port": 7421}}');
    expect(loadConfig(fine).config.access.dm).toBe('open');
    expect(errorOf(file('bad.json', '{"access": '))).toMatch(/bad\.json cannot be parsed: .*JSON/);
  });

  it('reads UTF-8 only, and says so of anything else instead of turning it into U+FFFD or a type error', () => {
    const latin1 = Buffer.concat([Buffer.from('assistants:\n  default:\n    systemPrompt: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]);
    expect(errorOf(file('latin1.yaml', latin1))).toMatch(/latin1\.yaml is not UTF-8 text/);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('server: {port: 7421}\n', 'utf16le')]);
    expect(errorOf(file('utf16.yaml', utf16))).toMatch(/utf16\.yaml is UTF-16 text: save it as UTF-8/);
    // What editors on Windows write: UTF-8 with a byte order mark.
    const bom = file('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"server": {"port": 7421}}')]));
    expect(loadConfig(bom).config.server.port).toBe(7421);
    expect(loadConfig(file('ok.yaml', 'assistants:\n  default:\n    systemPrompt: "café ☕"\n')).config.assistants.default!.systemPrompt).toBe('café ☕');
  });

  it('reads no more than 1 MiB: a larger file, or a device that never ends, is refused', () => {
    expect(errorOf(file('big.yaml', `# ${'x'.repeat(1024 * 1024)}\n`))).toMatch(/big\.yaml is over 1 MiB/);
    expect(errorOf('/dev/zero')).toMatch(/\/dev\/zero is over 1 MiB/);
    expect(loadConfig(file('near.yaml', `# ${'x'.repeat(1000 * 1000)}\nserver: {port: 7421}\n`)).config.server.port).toBe(7421);
  });
});
