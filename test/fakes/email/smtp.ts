import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One message the fake accepted with 250: envelope, raw source and its parse. */
export interface CapturedMail {
  from: string;
  to: string[];
  user: string | undefined;
  raw: string;
  parsed: ParsedMail;
}

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1:0, in process, capturing what is sent. Without TLS,
 * with AUTH PLAIN/LOGIN checked against one user. `failNext(n, code)` answers the next n DATA with a temporary or
 * permanent error after reading the message, so a test sees what each attempt carried (`attempts`).
 */
export async function startSmtpFake(options: { user?: string; password?: string } = {}) {
  const user = options.user ?? 'assistant@example.org';
  const password = options.password ?? 'smtp-password';
  const captured: CapturedMail[] = [];
  const attempts: string[] = [];
  let failures: Array<{ code: number; message: string }> = [];
  let rcptFailures: Array<{ code: number; message: string }> = [];
  const rcpts: string[] = [];
  let dataDelayMs = 0;
  const server = new SMTPServer({
    secure: false,
    hideSTARTTLS: true,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      rcpts.push(address.address);
      const failure = rcptFailures.shift();
      callback(failure ? Object.assign(new Error(failure.message), { responseCode: failure.code }) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        attempts.push(raw);
        const failure = failures.shift();
        const finish = async () => {
          if (dataDelayMs) await new Promise((r) => setTimeout(r, dataDelayMs));
          if (failure) return callback(Object.assign(new Error(failure.message), { responseCode: failure.code }));
          captured.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: typeof session.user === 'string' ? session.user : undefined,
            raw,
            parsed: await simpleParser(raw),
          });
          callback(null, 'Queued');
        };
        void finish();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    captured,
    attempts,
    /** Every RCPT TO address asked for, accepted or not. */
    rcpts,
    /** The next `count` DATA commands are answered with `code` (e.g. 451 temporary, 550 permanent). */
    failNext(count: number, code = 451, message = 'Temporary failure, try again') {
      failures = Array.from({ length: count }, () => ({ code, message }));
    },
    /** The next `count` RCPT TO commands are answered with `code` (451: greylisting, 550: no such user). */
    failRcpt(count: number, code = 451, message = 'Greylisted, please try again later') {
      rcptFailures = Array.from({ length: count }, () => ({ code, message }));
    },
    /** Holds the 250 after DATA this long: a send in flight that shutdown must wait for. */
    delayData(ms: number) {
      dataDelayMs = ms;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type SmtpFake = Awaited<ReturnType<typeof startSmtpFake>>;
