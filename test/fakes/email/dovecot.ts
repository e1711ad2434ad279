import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import { freePort } from '../../helpers/ports.js';
import { tempDir } from '../../helpers/tmp.js';

/**
 * A throwaway Dovecot IMAP server on 127.0.0.1, run as a child (`dovecot -F -c <conf>`) with a generated config in a
 * temp dir: no TLS, plain LOGIN allowed, one user from a static passwd-file, a maildir in the temp dir. Tests deliver
 * inbound mail by IMAP APPEND (`append`) and read flags back (`flags`) over their own connection.
 */
export interface MailAccount {
  user: string;
  password: string;
  /** Appends a raw message to INBOX (unseen unless `flags` say otherwise); resolves with its UID. */
  /** `arrived`: the INTERNALDATE the server keeps, as if the mail had been delivered then. */
  append(raw: string | Buffer, flags?: string[], arrived?: Date): Promise<number>;
  /** The flags of a message in INBOX by UID. */
  flags(uid: number): Promise<Set<string>>;
  /** UIDs of every message in INBOX (proves nothing was moved or expunged). */
  uids(): Promise<number[]>;
}

export interface Dovecot extends MailAccount {
  host: string;
  port: number;
  /** Another user with its own empty INBOX, so tests sharing one server never see each other's mail. */
  newAccount(): Promise<MailAccount>;
  /** Disconnects every IMAP session of a user (`doveadm kick`), as a server restart or a network drop would. */
  kick(user: string): void;
  log(): string;
  stop(): Promise<void>;
}

const INSTALL_HINT = 'dovecot is not installed: apt-get install -y dovecot-imapd';

function findDovecot(name = 'dovecot'): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin'];
  const found = dirs.filter(Boolean).map((d) => join(d, name)).find((p) => existsSync(p));
  if (!found) throw new Error(INSTALL_HINT);
  return found;
}

/** An unprivileged system account from /etc/passwd, for the processes Dovecot refuses to run as root. */
function systemAccount(names: string[]): { name: string; uid: number; gid: number } {
  const lines = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
  for (const name of names) {
    const row = lines.find((f) => f[0] === name);
    if (row) return { name, uid: Number(row[2]), gid: Number(row[3]) };
  }
  throw new Error(`none of the accounts ${names.join(', ')} exists for dovecot's unprivileged processes`);
}

function groupName(gid: number): string {
  const row = readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).find((f) => Number(f[2]) === gid);
  return row?.[0] ?? String(gid);
}

function config(v24: boolean, dir: string, port: number, users: { internal: string; internalGroup: string; login: string }, idle: boolean): string {
  const common = [
    // Without IDLE in the capability list, clients must poll: how a test proves the fallback.
    ...(idle ? [] : ['imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS NAMESPACE CHILDREN']),
    'protocols = imap',
    'listen = 127.0.0.1',
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    'ssl = no',
    'auth_mechanisms = plain login',
    `default_internal_user = ${users.internal}`,
    `default_internal_group = ${users.internalGroup}`,
    `default_login_user = ${users.login}`,
    'first_valid_uid = 1',
    // Speed over durability: the mail lives as long as one test.
    'mail_fsync = never',
  ];
  const imapLogin = (address: string) =>
    `service imap-login {\n  chroot =\n  inet_listener imap {\n    ${address} = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}\nservice anvil {\n  chroot =\n}\n`;
  if (v24) {
    return [
      'dovecot_config_version = 2.4.0',
      'dovecot_storage_version = 2.4.0',
      ...common,
      'auth_allow_cleartext = yes',
      'mail_driver = maildir',
      `mail_path = ${dir}/mail/%{user}`,
      `passdb passwd-file {\n  passwd_file_path = ${dir}/passwd\n}`,
      `userdb passwd-file {\n  passwd_file_path = ${dir}/passwd\n}`,
      imapLogin('listen'),
    ].join('\n');
  }
  return [
    ...common,
    'disable_plaintext_auth = no',
    `mail_location = maildir:${dir}/mail/%u`,
    `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/passwd\n}`,
    `userdb {\n  driver = passwd-file\n  args = username_format=%u ${dir}/passwd\n}`,
    imapLogin('address'),
  ].join('\n');
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('* OK'));
    });
    s.once('error', () => resolve(false));
  });

export async function startDovecot(options: { user?: string; password?: string; accounts?: number; idle?: boolean } = {}): Promise<Dovecot> {
  const binary = findDovecot();
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const v24 = /^2\.(4|[5-9])|^[3-9]\./.test(version);
  const user = options.user ?? 'assistant@example.org';
  const password = options.password ?? 'test-password';
  const tmp = tempDir('mc-dovecot-');
  const dir = tmp.dir;
  for (const d of ['run', 'state', 'mail']) mkdirSync(join(dir, d));
  // As root, Dovecot refuses to run login processes or own mail as root: use its own system accounts and
  // an unprivileged mail owner. As any other user everything runs as that user.
  const root = process.getuid?.() === 0;
  const me = userInfo();
  const mailOwner = root ? systemAccount(['nobody']) : { name: me.username, uid: me.uid, gid: me.gid };
  const users = root
    ? { internal: systemAccount(['dovecot']).name, internalGroup: groupName(systemAccount(['dovecot']).gid), login: systemAccount(['dovenull', 'nobody']).name }
    : { internal: me.username, internalGroup: groupName(me.gid), login: me.username };
  if (root) {
    chmodSync(dir, 0o755);
    chownSync(join(dir, 'mail'), mailOwner.uid, mailOwner.gid);
  }
  const passwdLine = (u: string, p: string) => `${u}:{PLAIN}${p}:${mailOwner.uid}:${mailOwner.gid}::${dir}/mail/home::\n`;
  // Every account exists from the start: Dovecot notices a changed passwd-file by its mtime, which has one-second
  // resolution, so an account added at run time could fail to log in.
  const [local, domain] = user.split('@');
  const extra = Array.from({ length: options.accounts ?? 30 }, (_, i) => ({ user: `${local}-${i + 1}@${domain}`, password: `${password}-${i + 1}` }));
  writeFileSync(join(dir, 'passwd'), [{ user, password }, ...extra].map((a) => passwdLine(a.user, a.password)).join(''));

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 3 && !child; attempt++) {
    port = await freePort();
    writeFileSync(join(dir, 'dovecot.conf'), config(v24, dir, port, users, options.idle ?? true));
    const c = spawn(binary, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    c.stdout!.on('data', (d) => (output += d));
    c.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && c.exitCode === null && !(await accepts(port))) await sleep(50);
    if (c.exitCode === null && (await accepts(port))) child = c;
    else {
      c.kill('SIGKILL');
      if (attempt === 2) {
        tmp.remove();
        throw new Error(`dovecot ${version} did not start: ${output}\n${readLog(dir)}`);
      }
    }
  }

  // A test process that dies without stop() must not leave a Dovecot behind.
  const orphanGuard = () => child?.kill('SIGKILL');
  process.once('exit', orphanGuard);

  const account = (user: string, password: string): MailAccount => {
    const withClient = async <T>(fn: (c: ImapFlow) => Promise<T>): Promise<T> => {
      const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
      await c.connect();
      try {
        return await fn(c);
      } finally {
        await c.logout().catch(() => c.close());
      }
    };
    return {
      user,
      password,
      append: (raw, flags = [], arrived) =>
        withClient(async (c) => {
          const r = await c.append('INBOX', raw, flags, arrived);
          if (!r || !r.uid) throw new Error('APPEND returned no UID');
          return r.uid;
        }),
      flags: (uid) =>
        withClient(async (c) => {
          await c.mailboxOpen('INBOX', { readOnly: true });
          const m = await c.fetchOne(String(uid), { flags: true }, { uid: true });
          if (!m) throw new Error(`no message with UID ${uid}`);
          return m.flags ?? new Set<string>();
        }),
      uids: () =>
        withClient(async (c) => {
          await c.mailboxOpen('INBOX', { readOnly: true });
          return ((await c.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);
        }),
    };
  };
  let accounts = 0;

  return {
    host: '127.0.0.1',
    port,
    ...account(user, password),
    async newAccount() {
      const next = extra[accounts++];
      if (!next) throw new Error(`all ${extra.length} accounts are in use: startDovecot({ accounts: n })`);
      return account(next.user, next.password);
    },
    kick(target) {
      const r = spawnSync(findDovecot('doveadm'), ['-c', join(dir, 'dovecot.conf'), 'kick', target], { encoding: 'utf8' });
      // Succeeds only if a session was there to kick: proves the test really dropped a connection.
      if (r.status !== 0 || !r.stdout.includes(target)) throw new Error(`doveadm kick ${target}: ${r.stderr || r.stdout || `exit ${r.status}`}`);
    },
    log: () => readLog(dir),
    async stop() {
      process.off('exit', orphanGuard);
      if (child && child.exitCode === null) {
        const done = new Promise((resolve) => child!.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([done, sleep(5_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      tmp.remove();
    },
  };
}

const readLog = (dir: string): string => {
  try {
    return readFileSync(join(dir, 'dovecot.log'), 'utf8');
  } catch {
    return '';
  }
};
