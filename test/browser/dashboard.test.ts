import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvents } from '../../core/connector.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { EmbeddedDriver } from '../../queues/embedded.js';
import { startOpenAIFake } from '../fakes/openai-server.js';
import { exited, hasExited, runCli, spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';
import { CHROMIUM, CHROMIUM_ARGS, screenshot } from './browser.js';

const PASSWORD = 'a browser-tested password';
const tmp = tempDir('mc-browser-');
let base = '';
let gateway: ReturnType<typeof spawnCli> | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let store: SqliteStore;
let queue: EmbeddedDriver;
let gpt: Awaited<ReturnType<typeof startOpenAIFake>>;

/** A message arriving through another connector: published on the gateway's queue as a telegram connector would. */
const telegram = (senderId: string, text: string, name = 'Grace Hopper') =>
  publishEvents(queue, store, 'connector:telegram', [makeEvent({ sender: { id: senderId, name, isBot: false }, conversation: { id: senderId, kind: 'dm' }, text })], () => false);

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  gpt = await startOpenAIFake();
  writeFileSync(
    join(tmp.dir, 'monkeyclaw.config.yaml'),
    `server: { host: 127.0.0.1, port: ${port} }
backends:
  gpt: { type: openai, baseUrl: ${gpt.url}, model: fake-gpt }
assistants:
  writer: { backend: gpt }
  default: { backend: echo }
  helper: { backend: echo, systemPrompt: Another assistant. }
access: { dm: pairing }
`,
  );
  const cli = (args: string[], input?: string) => runCli(args, { cwd: tmp.dir, ...(input !== undefined ? { input } : {}) });
  expect((await cli(['migrate'])).code).toBe(0);
  expect((await cli(['admin', 'set-password'], `${PASSWORD}\n`)).code).toBe(0);
  gateway = spawnCli(['start'], { cwd: tmp.dir });
  const file = join(tmp.dir, 'data', 'monkeyclaw.db');
  store = new SqliteStore(file);
  queue = new EmbeddedDriver({ file });
  const [launched] = await Promise.all([
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    (async () => {
      for (let i = 0; i < 150; i++) {
        if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) return;
        await sleep(100);
      }
      throw new Error(`gateway did not start:\n${gateway!.output()}`);
    })(),
  ]);
  browser = launched;
  context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
}, 30_000);

afterAll(async () => {
  await browser?.close();
  if (gateway && !hasExited(gateway)) {
    gateway.kill('SIGTERM');
    await exited(gateway);
  }
  await queue?.close();
  await store?.close();
  await gpt?.close();
  tmp.remove();
});

describe('dashboard in a real browser (Chromium, phone width)', () => {
  it('logs in by label and role, and lands on the overview', async () => {
    await page.goto(`${base}/?next=https://evil.example`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Password').fill('not it');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong password.' }).waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    expect(page.url()).toBe(`${base}/`);
    const cookie = (await context.cookies()).find((c) => c.name === 'mc_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    await screenshot(page, 'dashboard-login');
  });

  it('approves a pairing request from an unknown telegram sender', async () => {
    await telegram('4242', 'hello, who is there?');
    let code: string | undefined;
    for (let i = 0; i < 100 && !code; i++) {
      code = (await store.accessStore().pendingPairings(Date.now())).find((p) => p.identity === 'telegram:4242')?.code;
      if (!code) await sleep(100);
    }
    expect(code).toBeDefined();
    await page.getByRole('link', { name: 'Governance' }).click();
    await page.getByRole('button', { name: `Approve ${code} from telegram:4242` }).click();
    await page.getByRole('status').filter({ hasText: 'telegram:4242 may now talk to the assistant.' }).waitFor();
    expect(await page.getByRole('button', { name: `Approve ${code} from telegram:4242` }).count()).toBe(0);
    await page.getByRole('button', { name: 'Revoke telegram:4242' }).waitFor();
    const decided = (await store.dashboardQueries().auditPage({ kind: 'pairing.approved', limit: 1 }))[0]!;
    expect(decided).toMatchObject({ actor: 'web:admin', subject: 'telegram:4242' });
    await screenshot(page, 'dashboard-pairing-approved');
  });

  it('sends a web-chat message and sees the reply stream in', async () => {
    await page.getByRole('link', { name: 'Web chat' }).click();
    await page.getByLabel('Assistant').selectOption('helper');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.waitForURL(`${base}/chat?assistant=helper`);
    const text = 'Hello from the browser, <b>not bold</b> & streamed in several pieces';
    // Typed with a last Enter, then sent from the keyboard.
    await page.getByLabel('Message').fill(`${text}\n`);
    const streamed = page.waitForResponse((r) => r.url() === `${base}/chat/stream`);
    await page.getByLabel('Message').press('Control+Enter');
    await page.locator('#transcript .msg-assistant .text').filter({ hasText: text }).waitFor();
    // The live message reads as the history will after a reload, and the last line break was not sent.
    const mine = page.locator('#transcript .msg-user').last();
    expect(await mine.locator('.who').textContent()).toMatch(/^user · \d{4}-\d\d-\d\dT/);
    expect(await mine.locator('.text').textContent()).toBe(text);
    // The reply came over SSE as drafts while it was written, then whole; the page shows the whole reply.
    const response = await streamed;
    expect(response.headers()['content-type']).toContain('text/event-stream');
    const events = [...(await response.text()).matchAll(/event: (draft|reply)\ndata: (.*)\n/g)].map((m) => {
      const data = JSON.parse(m[2]!) as string | { text: string; html?: string };
      return { event: m[1], text: typeof data === 'string' ? data : data.text, html: typeof data === 'string' ? undefined : data.html };
    });
    // Echo's reply is plain: it comes as text alone, which the page only ever sets as text.
    expect(events.at(-1)).toEqual({ event: 'reply', text, html: undefined });
    const drafts = events.filter((e) => e.event === 'draft');
    expect(drafts.length).toBeGreaterThanOrEqual(1);
    expect(drafts.every((d) => text.startsWith(d.text.trim()))).toBe(true);
    expect(await page.locator('#transcript .msg-assistant .text').last().textContent()).toBe(text);
    expect(await page.locator('#transcript b').count()).toBe(0);
    await screenshot(page, 'dashboard-web-chat');
    // The turn went through the queue and worker as web:admin, like any connector's.
    await page.reload();
    expect(await page.locator('#transcript .msg-assistant .text').filter({ hasText: text }).count()).toBe(1);
  });

  it('shows a signed-in owner a page at an address that is no page, with the way back', async () => {
    const response = await page.goto(`${base}/no/such/page`);
    expect(response?.status()).toBe(404);
    expect(await page.getByRole('heading', { name: 'Not found' }).count()).toBe(1);
    await page.getByRole('link', { name: 'Back to the overview' }).click();
    await page.waitForURL(`${base}/`);
  });

  it("shows a backend's markdown rendered, live and after a reload, and nothing as markup that it wrote as text", async () => {
    await page.goto(`${base}/chat?assistant=writer`);
    gpt.script({ kind: 'stream', deltas: ['**Bold** and `code` beside <b>tags</b>', ' and [a link](https://example.org/x) and [bad](javascript:alert(1))\n\n> quoted'] });
    await page.getByLabel('Message').fill('format something');
    await page.getByRole('button', { name: 'Send' }).click();
    const check = async () => {
      const reply = page.locator('#transcript .msg-assistant .text').last();
      await reply.locator('strong').filter({ hasText: 'Bold' }).waitFor();
      expect(await reply.locator('code').textContent()).toBe('code');
      expect(await reply.locator('blockquote').textContent()).toBe('quoted');
      expect(await reply.locator('a').count()).toBe(1);
      expect(await reply.locator('a').getAttribute('href')).toBe('https://example.org/x');
      expect(await reply.locator('b').count()).toBe(0);
      expect(await reply.textContent()).toContain('beside <b>tags</b> and a link and bad');
    };
    await check();
    await screenshot(page, 'dashboard-web-chat-markdown');
    await page.reload();
    await check();
  });

  it('draws the throughput and latency charts with uPlot, and the inbound count and throughput rise live when a message arrives', async () => {
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.locator('#live-status').filter({ hasText: 'live' }).waitFor();
    // Drawn by uPlot, loaded from the gateway under the strict CSP (its integrity checked by the browser).
    const throughput = page.getByRole('figure', { name: 'Throughput' });
    const latency = page.getByRole('figure', { name: 'Reply latency' });
    await throughput.locator('canvas').first().waitFor();
    await latency.locator('canvas').first().waitFor();
    const box = await throughput.locator('canvas').first().boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    expect(box!.width).toBeLessThanOrEqual(390);
    // Browser-side code as strings: the tests compile without the DOM library. The marker shows there was no reload.
    await page.evaluate('window.marker = 42');
    const count = page.locator('[data-field="totals.in"]');
    const recent = throughput.locator('[data-field="recent.in"]');
    await sleep(1_200);
    const before = Number(await count.textContent());
    const recentBefore = Number(await recent.textContent());
    await telegram('4242', 'one more, live');
    // Polled from here: the page's CSP (rightly) refuses the eval that waitForFunction would need.
    for (let i = 0; i < 100 && Number(await count.textContent()) === before; i++) await sleep(100);
    expect(Number(await count.textContent())).toBe(before + 1);
    for (let i = 0; i < 50 && Number(await recent.textContent()) <= recentBefore; i++) await sleep(100);
    expect(Number(await recent.textContent())).toBeGreaterThan(recentBefore);
    // The echo reply goes back out: the latency figures have a sample.
    const replies = latency.locator('[data-field="recent.replies"]');
    for (let i = 0; i < 50 && Number(await replies.textContent()) === 0; i++) await sleep(100);
    expect(Number(await replies.textContent())).toBeGreaterThan(0);
    expect(await latency.locator('[data-field="recent.p95"]').textContent()).toMatch(/^\d+$/);
    expect(await page.evaluate('window.marker')).toBe(42);
    const telegramRow = page.locator('#platform-rows tr').filter({ hasText: 'telegram' });
    expect(Number(await telegramRow.locator('td').nth(1).textContent())).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#process-rows tr[data-process="worker"] [data-col="state"]').textContent()).toBe('running');
    expect(problems).toEqual([]);
    await screenshot(page, 'dashboard-overview-live');
  });

  it('creates an assistant through labelled fields, after seeing what was wrong next to each field', async () => {
    await page.getByRole('link', { name: 'Assistants' }).click();
    await page.getByRole('link', { name: 'New assistant' }).click();
    await page.getByLabel('Name', { exact: true }).fill('scribe');
    await page.getByLabel('System prompt').fill('');
    await page.getByLabel('Inbound pipeline').fill('access, teleport');
    await page.getByRole('button', { name: 'Create assistant' }).click();
    await page.getByRole('alert').filter({ hasText: 'Not saved: 2 problems' }).waitFor();
    // Each control is marked invalid and described by the error printed right below it; what was typed stays.
    for (const [label, error] of [['System prompt', 'a system prompt is required'], ['Inbound pipeline', 'entry 2: unknown plug "teleport"']] as const) {
      const control = page.getByLabel(label);
      expect(await control.getAttribute('aria-invalid'), label).toBe('true');
      const described = (await control.getAttribute('aria-describedby'))!.split(' ');
      const texts = await Promise.all(described.map((id) => page.locator(`#${id}`).textContent()));
      expect(texts.join(' '), label).toContain(error);
    }
    expect(await page.getByLabel('Inbound pipeline').inputValue()).toBe('access, teleport');
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('scribe');
    expect((await store.settingsStore().savedAssistants()).map((a) => a.name)).toEqual([]);
    await screenshot(page, 'dashboard-assistant-invalid');

    await page.getByLabel('System prompt').fill('You keep the minutes.');
    await page.getByLabel('Inbound pipeline').fill('access');
    await page.getByLabel('Primary backend').selectOption('echo');
    await page.getByLabel('When the primary fails').selectOption('ask');
    await page.getByRole('button', { name: 'Create assistant' }).click();
    await page.getByRole('status').filter({ hasText: 'Assistant scribe created.' }).waitFor();
    await page.getByRole('link', { name: 'scribe' }).waitFor();
    expect(await store.settingsStore().savedAssistants()).toMatchObject([{ name: 'scribe', settings: { systemPrompt: 'You keep the minutes.', fallback: 'ask' } }]);
    await screenshot(page, 'dashboard-assistants');
  });

  it('approves a tool call waiting for an owner, by button', async () => {
    const now = Date.now();
    await store.approvalStore().create({ id: 'GPUSH7', assistant: 'default', tool: 'Bash', summary: 'git push origin main', requester: 'telegram:4242', eventId: 'e-browser', createdAt: now, expiresAt: now + 300_000 });
    await page.getByRole('link', { name: 'Governance' }).click();
    await page.getByRole('heading', { name: 'Pending tool approvals' }).waitFor();
    await screenshot(page, 'dashboard-tool-approval-pending');
    await page.getByRole('button', { name: 'Approve GPUSH7 (Bash)' }).click();
    await page.getByRole('status').filter({ hasText: 'Tool call GPUSH7 (Bash) approved: it runs now.' }).waitFor();
    expect(await page.getByRole('button', { name: 'Approve GPUSH7 (Bash)' }).count()).toBe(0);
    expect((await store.approvalStore().get('GPUSH7'))?.status).toBe('approved');
    const decided = (await store.dashboardQueries().auditPage({ kind: 'tool.approved', limit: 1 }))[0]!;
    expect(decided).toMatchObject({ actor: 'web:admin', subject: 'GPUSH7' });
    await screenshot(page, 'dashboard-tool-approved');
  });

  it('gives every control an accessible name, and fits every page into a phone-width viewport', async () => {
    const [channel] = await store.dashboardQueries().channels();
    // Browser-side checks as a string: tests compile without the DOM library.
    const check = `(() => {
      const controls = [...document.querySelectorAll('a, button, input:not([type=hidden]), select, textarea')].filter((el) => !el.hidden);
      const unnamed = controls.filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim());
      return { controls: controls.length, unnamed: unnamed.map((el) => el.outerHTML), overflow: document.documentElement.scrollWidth - window.innerWidth };
    })()`;
    const pages = ['/', '/conversations', `/conversations/${channel!.id}`, '/assistants', '/assistants/new', '/assistants/scribe/edit', '/workspaces'];
    for (const path of [...pages, '/workspaces/default/edit', '/governance', '/audit', '/chat']) {
      await page.goto(`${base}${path}`);
      const result = (await page.evaluate(check)) as { controls: number; unnamed: string[]; overflow: number };
      expect(result.controls, path).toBeGreaterThan(5);
      expect(result.unnamed, path).toEqual([]);
      expect(result.overflow, path).toBeLessThanOrEqual(0);
    }
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByRole('status').filter({ hasText: /^Audit log ok: \d+ entries/ }).waitFor();
    await screenshot(page, 'dashboard-audit-verified');
  });

  it('logs out, after which the stream and pages need a login again', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Password').waitFor();
    await page.goto(`${base}/governance`);
    expect(new URL(page.url()).pathname).toBe('/login');
    const events = await page.evaluate(async () => (await fetch('/events')).status);
    expect(events).toBe(401);
  });

  it('takes a live overview to the sign-in page when its session ends elsewhere (a new password)', async () => {
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#live-status').filter({ hasText: 'live' }).waitFor();
    expect((await runCli(['admin', 'set-password'], { cwd: tmp.dir, input: `${PASSWORD}\n` })).code).toBe(0);
    await page.waitForURL(`${base}/login`, { timeout: 15_000 });
  });
});
