#!/usr/bin/env node
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import type { RecordedEntry } from '../core/audit.js';
import { ConfigError } from '../core/config.js';
import { MasterKeyError } from '../core/master-key.js';
import { PlugConfigError } from '../core/plug.js';
import { processRedactor } from '../core/redactor.js';
import { WrongMasterKeyError } from '../core/vault.js';
import { FATAL_REPORT, reportText, sendToParent, tellAlive } from './child-ipc.js';
import { isSupervised } from './credentials.js';
import { isGoneOutput, UsageError } from './errors.js';
import { LockedError } from './lock.js';
import { logLevel } from './log-level.js';
import type { GlobalOptions } from './runtime.js';
import { terminalLine, terminalText } from './terminal-text.js';

/** The package's version, as `monkeyclaw --version` prints it. */
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

type Action = (opts: GlobalOptions & Record<string, unknown>, ...args: string[]) => Promise<number>;

/** Exit codes (DESIGN): 0 ok, 1 a check failed, 2 bad usage or config. */
function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof ConfigError || error instanceof PlugConfigError || error instanceof UsageError || error instanceof MasterKeyError || error instanceof WrongMasterKeyError) return 2;
  return 1;
}

/** Global flags are accepted before or after the subcommand: each command declares them too. */
function withGlobals(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (default ./monkeyclaw.config.yaml, else .yml, else .json, else built-in defaults)')
    .option('--data-dir <dir>', 'data directory (default ./data; env MONKEYCLAW_DATA_DIR)');
}

/** `--expect SEQ:HASH`, an entry as `audit verify` prints its head. */
function parseRecorded(value: string): RecordedEntry {
  const m = /^(\d+):([0-9a-f]{64})$/.exec(value);
  if (!m || Number(m[1]) < 1) throw new UsageError('--expect must be SEQ:HASH as audit verify prints its head, e.g. 12:<64 hex digits>');
  return { seq: Number(m[1]), hash: m[2]! };
}

function run(action: Action) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const positional = args.slice(0, -2).filter((a): a is string => typeof a === 'string');
    const options = cmd.optsWithGlobals() as GlobalOptions & Record<string, unknown>;
    // Every command, even one that never reads it, refuses a config that is missing or wrong (exit 2).
    const { loadConfig } = await import('./config-file.js');
    loadConfig(options.config);
    process.exitCode = await action(options, ...positional);
  };
}

export function buildProgram(): Command {
  const program = withGlobals(new Command('monkeyclaw'))
    .description('A trustworthy personal-AI messaging gateway')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    // Commander prints its own usage errors, which quote what was typed: `--token=xoxb-…` must not come back out.
    .configureOutput({ writeErr: (text) => process.stderr.write(terminalText(processRedactor.redact(text))) });
  const sub = (name: string, description: string) => withGlobals(program.command(name).description(description)).exitOverride();
  const lazy = <M>(load: () => Promise<M>, pick: (m: M) => Action): Action => async (...a) => pick(await load())(...a);
  const ops = () => import('./commands/ops.js');

  sub('start', 'migrate, then run workers, enabled connectors and the HTTP server').action(run(lazy(() => import('./commands/start.js'), (m) => m.start)));
  sub('worker', 'run one session worker').action(run(lazy(() => import('./commands/worker.js'), (m) => m.worker)));
  sub('connector', 'run one connector')
    .argument('<name>')
    .action(run(lazy(() => import('./commands/connector.js'), (m) => (o, name) => m.runConnector(name!, o))));
  sub('chat', 'chat from the terminal through the full path')
    .option('--assistant <name>', 'assistant to talk to')
    .option('--once', 'send stdin as one message, print the reply, exit')
    .addOption(new Option('--timeout <seconds>', "how long to wait for a reply before giving the message up (default: as long as the assistant's backends may take, plus a minute)").argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 86_400) throw new UsageError('--timeout must be a whole number of seconds from 1 to 86400');
      return n;
    }))
    .action(run(lazy(() => import('./commands/chat.js'), (m) => m.chat)));
  sub('migrate', 'apply SQL migrations').action(run(lazy(ops, (m) => m.migrateCommand)));
  sub('doctor', 'check config, database, queue, connectors and backends')
    .option('--connector <name>', 'check only the config and this connector')
    .action(run(lazy(ops, (m) => m.doctor)));

  const audit = program.command('audit').description('the hash-chained audit log');
  withGlobals(audit.command('verify').description('verify the hash chain'))
    .exitOverride()
    .addOption(new Option('--expect <seq:hash>', 'an entry recorded earlier (as verify prints its head) that must still be there, unchanged').argParser(parseRecorded))
    .action(run(lazy(ops, (m) => m.auditVerify)));
  withGlobals(audit.command('tail').description('print recent entries'))
    .exitOverride()
    .addOption(new Option('-n <count>', 'entries').default(20).argParser((v) => {
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new UsageError('-n must be a whole number from 1 to 100000');
      return n;
    }))
    .action(run(lazy(ops, (m) => (o) => m.auditTail({ ...o, n: o.n as number }))));

  const dlq = program.command('dlq').description('dead-lettered jobs');
  withGlobals(dlq.command('list').description('list dead-lettered jobs')).exitOverride().action(run(lazy(ops, (m) => m.dlqList)));
  withGlobals(dlq.command('retry').description('queue a dead-lettered job again'))
    .exitOverride()
    .argument('<id>')
    .action(run(lazy(ops, (m) => (o, id) => m.dlqRetry(id!, o))));
  const accessCmd = () => import('./commands/access.js');
  const pair = program.command('pair').description('pairing requests from unknown senders');
  withGlobals(pair.command('list').description('pending requests: CODE platform:sender-id expires-at name')).exitOverride().action(run(lazy(accessCmd, (m) => m.pairList)));
  for (const [verb, decision, text] of [['approve', 'approved', 'allow the sender'], ['deny', 'denied', 'block the sender silently']] as const) {
    withGlobals(pair.command(verb).description(text))
      .exitOverride()
      .argument('<code>')
      .action(run(lazy(accessCmd, (m) => (o, code) => m.pairDecide(code!, decision, o))));
  }
  const access = program.command('access').description('the allowlist: config entries plus run-time changes');
  withGlobals(access.command('list').description('each entry with its source')).exitOverride().action(run(lazy(accessCmd, (m) => m.accessList)));
  withGlobals(access.command('allow').description('allow platform:id (idempotent)'))
    .exitOverride()
    .argument('<identity>')
    .action(run(lazy(accessCmd, (m) => (o, id) => m.accessAllow(id!, o))));
  withGlobals(access.command('revoke').description('revoke platform:id'))
    .exitOverride()
    .argument('<identity>')
    .action(run(lazy(accessCmd, (m) => (o, id) => m.accessRevoke(id!, o))));

  const approvalsCmd = () => import('./commands/approvals.js');
  const approvals = program.command('approvals').description('tool calls waiting for an owner');
  withGlobals(approvals.command('list').description('pending approvals')).exitOverride().action(run(lazy(approvalsCmd, (m) => m.approvalsList)));
  for (const [verb, decision] of [['approve', 'approved'], ['reject', 'rejected']] as const) {
    withGlobals(approvals.command(verb).description(`${verb} a pending tool call`))
      .exitOverride()
      .argument('<id>')
      .action(run(lazy(approvalsCmd, (m) => (o, id) => m.approvalsDecide(id!, decision, o))));
  }

  const secrets = program.command('secrets').description('the encrypted vault');
  const secretsCmd = () => import('./commands/secrets.js');
  withGlobals(secrets.command('set').description('store a secret; the value is read from stdin or a hidden prompt'))
    .exitOverride()
    .argument('<name>')
    .action(run(lazy(secretsCmd, (m) => (o, name) => m.secretsSet(name!, o))));
  withGlobals(secrets.command('list').description('names and dates, never values')).exitOverride().action(run(lazy(secretsCmd, (m) => m.secretsList)));
  withGlobals(secrets.command('rm').description('remove a secret'))
    .exitOverride()
    .argument('<name>')
    .action(run(lazy(secretsCmd, (m) => (o, name) => m.secretsRemove(name!, o))));
  withGlobals(secrets.command('rotate-key').description('re-encrypt everything under a new master key (from stdin, or a new key file)'))
    .exitOverride()
    .action(run(lazy(secretsCmd, (m) => m.secretsRotateKey)));
  const authCmd = () => import('./commands/auth.js');
  const admin = program.command('admin').description('dashboard access');
  withGlobals(admin.command('set-password').description('set the dashboard password (stdin or a hidden prompt)'))
    .exitOverride()
    .action(run(lazy(authCmd, (m) => m.adminSetPassword)));
  const apikey = program.command('apikey').description('API keys for the OpenAI-compatible API');
  withGlobals(apikey.command('create').description('create a key; printed once on the last line'))
    .exitOverride()
    .argument('<name>')
    .option('--assistant <name>', 'limit the key to one assistant')
    .action(run(lazy(authCmd, (m) => (o, name) => m.apikeyCreate(name!, o))));
  withGlobals(apikey.command('list').description('one line per key: id name created-at')).exitOverride().action(run(lazy(authCmd, (m) => m.apikeyList)));
  withGlobals(apikey.command('revoke').description('revoke a key at once'))
    .exitOverride()
    .argument('<id>')
    .action(run(lazy(authCmd, (m) => (o, id) => m.apikeyRevoke(id!, o))));

  const certs = program.command('certs').description('mTLS material under <data-dir>/certs/');
  const certsCmd = () => import('./commands/certs.js');
  withGlobals(certs.command('ca').description('make the certificate authority (certs/ca.crt, ca.key)'))
    .exitOverride()
    .option('--force', 'replace an existing CA (every certificate it issued stops being trusted)')
    .action(run(lazy(certsCmd, (m) => (o) => m.certsCa(o))));
  withGlobals(certs.command('server').description('make the server certificate (certs/server.crt, server.key)'))
    .exitOverride()
    .option('--san <name-or-ip>', 'a DNS name or IP address; repeat for several (default: localhost, 127.0.0.1, ::1)', (v: string, prev: string[] = []) => [...prev, v])
    // Accepted for symmetry: a server certificate is always replaced (renewal, new SANs); clients trust the CA.
    .option('--force', 'replace the existing server certificate (the default: it is always replaced)')
    .action(run(lazy(certsCmd, (m) => (o) => m.certsServer(o))));
  withGlobals(certs.command('client').description('make a client certificate (certs/clients/<name>.crt, .key)'))
    .exitOverride()
    .argument('<name>')
    .option('--force', 'replace an existing client certificate of that name (the old one is revoked)')
    .action(run(lazy(certsCmd, (m) => (o, name) => m.certsClient(name!, o))));
  withGlobals(certs.command('revoke').description('take back a client certificate: refused under mtls from its next request, its files deleted'))
    .exitOverride()
    .argument('<name>')
    .action(run(lazy(certsCmd, (m) => (o, name) => m.certsRevoke(name!, o))));
  withGlobals(certs.command('p12').description('bundle a client certificate as PKCS#12 for browser import (password from MONKEYCLAW_P12_PASSWORD or a hidden prompt)'))
    .exitOverride()
    .argument('<name>')
    .option('--force', 'replace an existing bundle (the default: it is made anew from the certificate and key each time)')
    .action(run(lazy(certsCmd, (m) => (o, name) => m.certsP12(name!, o))));
  return program;
}

/** A supervised child (worker, connector) tells its supervisor why it is about to exit, for the crash audit. */
const supervised = isSupervised();
const lastWords = (error: unknown) => ({ type: FATAL_REPORT, message: reportText(processRedactor.redact(error instanceof Error ? error.message : String(error))) });

async function main(): Promise<void> {
  // A reader that went away (`monkeyclaw doctor | head -1`) is not our failure: the rest of the output goes
  // nowhere and the command ends with its own exit code, not an EPIPE stack trace.
  // Nor is a terminal that hung up (EIO): the gateway it ran goes on stopping in order, its log now going nowhere.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (!isGoneOutput(error)) throw error;
    });
  }
  // A closing terminal hangs up the whole process group: a child's supervisor decides when it stops, not that.
  if (supervised) process.on('SIGHUP', () => undefined);
  // Best effort for what escapes main: the channel is usually written at once, before the process dies.
  if (supervised) process.on('uncaughtExceptionMonitor', (error) => process.send?.(lastWords(error), undefined, {}, () => undefined));
  if (supervised) tellAlive();
  try {
    logLevel();
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    const code = exitCodeFor(error);
    if (!(error instanceof CommanderError)) {
      const message = error instanceof Error ? error.message : String(error);
      // Error text can quote input; credential shapes never reach the terminal or a log collector. Nor can a
      // platform's or backend's words in it start lines of their own: only a config error lists its fields by line.
      const shown = processRedactor.redact(message);
      process.stderr.write(`monkeyclaw: ${error instanceof ConfigError ? terminalText(shown) : terminalLine(shown)}\n`);
      if (code === 1 && !(error instanceof LockedError) && process.env.MONKEYCLAW_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
      if (supervised) await sendToParent(lastWords(error));
    }
    process.exitCode = code;
  }
  // A finished command is finished: a lingering handle (a client's reconnect timer) must not keep it alive. But
  // not before its output is out: a pipe read slowly (`audit tail | less`) holds what the exit would throw away.
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  setTimeout(() => process.exit(), 50).unref();
}

/**
 * Resolves once everything written to the stream has been handed to the OS, or the stream is gone. An empty write's
 * callback runs after the writes queued before it ('drain' alone would not come for a backlog under the high-water mark).
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('close', resolve);
    stream.write('', () => resolve());
  });
}

await main();
