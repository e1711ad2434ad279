import { describe, expect, it } from 'vitest';
import { exited, gatewayDir, hasExited, runCli, spawnCli } from '../../helpers/cli.js';
import { startDovecot } from '../../fakes/email/dovecot.js';
import { startSmtpFake } from '../../fakes/email/smtp.js';
import { header, mail } from './helpers.js';
import { cleanups, until } from '../../helpers/wait.js';

const cleanup = cleanups();


/** Needs the build: `npx tsc -p tsconfig.json` (npm test's pretest does it). */
describe('monkeyclaw start with the email connector', () => {
  it('answers mail in its own supervised process, passwords from env: refs, and finishes a send in flight on SIGTERM', async () => {
    const [dovecot, smtp] = await Promise.all([startDovecot(), startSmtpFake()]);
    cleanup.push(() => dovecot.stop(), () => smtp.stop());
    const tmp = await gatewayDir('mc-email-proc-', [
      'access: { dm: allowlist, allow: ["email:ada@example.com"] }',
      'connectors:',
      '  email:',
      '    enabled: true',
      `    address: ${dovecot.user}`,
      `    imap: { host: 127.0.0.1, port: ${dovecot.port}, secure: false, user: "${dovecot.user}", password: env:MC_TEST_IMAP_PASSWORD, mailbox: INBOX }`,
      `    smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, user: "${smtp.user}", password: env:MC_TEST_SMTP_PASSWORD }`,
    ]);
    cleanup.push(() => tmp.remove());
    const env = { MC_TEST_IMAP_PASSWORD: dovecot.password, MC_TEST_SMTP_PASSWORD: smtp.password };
    const gateway = spawnCli(['start'], { cwd: tmp.dir, env });
    cleanup.push(async () => {
      if (!hasExited(gateway)) {
        gateway.kill('SIGKILL');
        await exited(gateway);
      }
    });

    const first = mail({ from: 'Ada <ada@example.com>', to: dovecot.user, subject: 'Hello from outside', body: 'Can you hear me?' });
    await dovecot.append(first.raw);
    const reply = await until(() => smtp.captured.find((m) => m.to.includes('ada@example.com')), 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${gateway.output()}`);
    });
    expect(header(reply, 'in-reply-to')).toBe(first.messageId);
    expect(reply.parsed.text?.trim()).toBe('Can you hear me?');
    expect(reply.user).toBe(smtp.user);

    // A reply whose 250 is held back when SIGTERM arrives is still delivered before the process exits.
    smtp.delayData(1_500);
    const attempts = smtp.attempts.length;
    await dovecot.append(mail({ from: 'ada@example.com', to: dovecot.user, subject: 'Re: Hello from outside', inReplyTo: header(reply, 'message-id')!, body: 'Bye!' }).raw);
    await until(() => smtp.attempts.length > attempts);
    const stopAt = Date.now();
    gateway.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(smtp.captured.filter((m) => m.to.includes('ada@example.com')).map((m) => m.parsed.text?.trim())).toEqual([
      'Can you hear me?',
      'Bye!',
    ]);
    expect(gateway.output()).not.toContain(dovecot.password);
    expect((await runCli(['audit', 'verify'], { cwd: tmp.dir })).code).toBe(0);
  }, 60_000);
});
