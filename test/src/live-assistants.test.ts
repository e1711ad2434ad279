import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assistantCandidates } from '../../core/assistant-choice.js';
import { settingsOf, type AssistantSettings } from '../../core/assistant-settings.js';
import { parseConfig } from '../../core/config.js';
import { parseChannelEvent, type ChannelEventInput } from '../../core/event.js';
import { MemoryLimiter } from '../../core/rate-limiter.js';
import { SqliteStore } from '../../core/sqlite/store.js';
import { talk } from '../../core/talk.js';
import { builtinPlugs } from '../../plugs/index.js';
import { LiveAssistants } from '../../src/live-assistants.js';
import { makeEvent, tempDir } from '../helpers/tmp.js';

const config = parseConfig({
  backends: { echo: { type: 'echo' }, spare: { type: 'echo' } },
  assistants: { default: { backend: 'echo' }, helper: { backend: 'echo', systemPrompt: 'You help.' } },
  access: { dm: 'open', groups: 'open', deny: ['telegram:666'] },
  connectors: { telegram: { enabled: true, token: 'secret:TELEGRAM_TOKEN', assistant: 'helper' } },
  channels: { 'telegram:777': { assistant: 'default' } },
});

let store: SqliteStore | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await store?.close();
  tmp?.remove();
  store = undefined;
});

async function open() {
  tmp = tempDir('mc-live-');
  store = new SqliteStore(join(tmp.dir, 'monkeyclaw.db'));
  await store.migrate();
  const s = store;
  const warnings: string[] = [];
  const services = { config, now: Date.now, extra: {}, limiter: new MemoryLimiter(), access: s.accessStore(), sessions: s };
  const deps = {
    config,
    registry: builtinPlugs(),
    services,
    resolve: () => 'unused',
    settings: s.settingsStore(),
    log: { info: () => undefined, warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') },
    audit: (entries: Parameters<SqliteStore['appendAudit']>[0]) => s.appendAudit(entries),
  };
  const live = await LiveAssistants.open(deps);
  return { s, live, deps, warnings, settings: s.settingsStore() };
}

const loopback = (text: string, assistant?: string) =>
  parseChannelEvent(
    makeEvent({ platform: 'loopback', account: 'term', conversation: { id: 'local', kind: 'dm' }, sender: { id: 'local', isBot: false }, text, ...(assistant ? { assistant } : {}) }),
  );
/** As the telegram connector sends it: stamped with the connector's assistant. */
const telegram = (chat: string, overrides: Partial<ChannelEventInput> = {}) =>
  parseChannelEvent(makeEvent({ conversation: { id: chat, kind: 'dm' }, sender: { id: chat, isBot: false }, assistant: 'helper', ...overrides }));

const edited = (base: AssistantSettings, change: Partial<AssistantSettings>): AssistantSettings => ({ ...base, ...change });
const audits = async (s: SqliteStore, kind: string) => (await s.dashboardQueries().auditPage({ kind, limit: 50 })).map((e) => e.subject);

describe('assistants edited in the dashboard, in a running worker', () => {
  it('uses a saved edit from the next turn, rebuilding only the assistant that changed', async () => {
    const { s, live, settings } = await open();
    const turn = async (text: string) => (await talk({ store: s, assistantFor: (e) => live.resolve(e), now: Date.now }, loopback(text))).reply?.text;
    const before = await live.resolve(loopback('x'));
    const helper = await live.resolve(loopback('x', 'helper'));
    expect(before.name).toBe('default');
    expect(await turn('write to ada@example.org')).toBe('write to [redacted:email]');

    const change = edited(settingsOf(config.assistants.default!), {
      systemPrompt: 'You are terse.',
      pipelines: { ...config.assistants.default!.pipelines, inbound: ['access'] },
    });
    await settings.saveAssistant('default', change, { create: false }, [{ kind: 'assistant.updated', actor: 'test', subject: 'default' }]);

    const after = await live.resolve(loopback('x'));
    expect(after).not.toBe(before);
    expect(after.config.systemPrompt).toBe('You are terse.');
    expect(after.pipelines.inbound.map((p) => p.plug.name)).toEqual(['access', 'group-gate']);
    // The redact plug is gone from the pipeline: the echo backend now sees the address as typed.
    expect(await turn('write to ada@example.org')).toBe('write to ada@example.org');
    expect(await live.resolve(loopback('x', 'helper'))).toBe(helper);
  });

  it('keeps access and group-gate in a pipeline saved without them: the config\'s deny and requireMention still hold', async () => {
    const { s, live, settings } = await open();
    await settings.saveAssistant('helper', edited(settingsOf(config.assistants.helper!), { pipelines: { ...config.assistants.helper!.pipelines, inbound: ['redact'] } }), { create: false }, []);
    expect((await live.resolve(telegram('555'))).pipelines.inbound.map((p) => p.plug.name)).toEqual(['access', 'group-gate', 'redact']);
    // Listed after a plug that answers (commands), it still runs before it; rate limits stay in front.
    const late = { ...config.assistants.helper!.pipelines, inbound: ['rate-limit', 'commands', 'access'] };
    await settings.saveAssistant('helper', edited(settingsOf(config.assistants.helper!), { pipelines: late }), { create: false }, []);
    expect((await live.resolve(telegram('555'))).pipelines.inbound.map((p) => p.plug.name)).toEqual(['rate-limit', 'access', 'group-gate', 'commands']);
    expect((await talk({ store: s, assistantFor: (e) => live.resolve(e), now: Date.now }, telegram('666', { text: '/help' }))).haltedBy).toBe('access');
    const turn = async (chat: string) => talk({ store: s, assistantFor: (e) => live.resolve(e), now: Date.now }, telegram(chat, { text: 'hello' }));
    expect((await turn('555')).reply?.text).toBe('hello');
    const denied = await turn('666');
    expect(denied.reply).toBeUndefined();
    expect(denied.haltedBy).toBe('access');
    // Group chatter that does not address the assistant reaches neither commands nor the backend (groups are open here).
    const chatter = (text: string, mentionsBot = false) =>
      talk({ store: s, assistantFor: (e) => live.resolve(e), now: Date.now }, telegram('-100', { conversation: { id: '-100', kind: 'group' }, sender: { id: '555', isBot: false }, text, mentionsBot }));
    expect(await chatter('/help')).toMatchObject({ haltedBy: 'group-gate' });
    expect((await chatter('/help', true)).haltedBy).toBe('commands');
  });

  it('answers with a dashboard-made assistant, and picks by channel entry > surface choice > workspace > connector > default', async () => {
    const { s, live, settings } = await open();
    const writer = edited(settingsOf(config.assistants.default!), { systemPrompt: 'You write.', backend: ['spare', 'echo'] });
    expect(await settings.saveAssistant('writer', writer, { create: true }, [])).toBe('saved');
    expect(await settings.saveAssistant('writer', writer, { create: true }, [])).toBe('exists');

    // No workspace setting: the connector's assistant, then default.
    expect((await live.resolve(telegram('555'))).name).toBe('helper');
    expect((await live.resolve(loopback('x'))).name).toBe('default');

    await settings.updateWorkspace('default', { displayName: 'Home', assistant: 'writer' }, []);
    const fromWorkspace = await live.resolve(telegram('555'));
    expect(fromWorkspace.name).toBe('writer');
    expect(fromWorkspace.backends.map((b) => b.name)).toEqual(['spare', 'echo']);
    expect((await live.resolve(loopback('x'))).name).toBe('writer');
    // A surface's explicit choice (chat --assistant, web chat, the API's model) is not overridden by the workspace.
    expect((await live.resolve(loopback('x', 'helper'))).name).toBe('helper');
    // The config file's entry for the channel wins over everything.
    expect((await live.resolve(telegram('777'))).name).toBe('default');

    // A channel moved to another workspace follows that workspace's setting from its next message.
    const { channel } = await s.ensureSession(telegram('555'));
    await settings.createWorkspace('research', { displayName: null, assistant: null }, []);
    await s.dashboardQueries().moveChannel(channel.id, 'research');
    expect((await live.resolve(telegram('555'))).name).toBe('helper');
    expect(assistantCandidates(config, telegram('555'), 'writer')).toEqual(['writer', 'helper', 'default']);
  });

  it('keeps an assistant running as before when its saved settings no longer build, audited once; reset returns to the config build', async () => {
    const { s, live, settings, warnings } = await open();
    const start = await live.resolve(loopback('x'));
    // A backend the config file no longer defines (the dashboard refuses it; a config edit since could cause it).
    await settings.saveAssistant('default', edited(settingsOf(config.assistants.default!), { backend: ['removed'] }), { create: false }, []);
    expect(await live.resolve(loopback('x'))).toBe(start);
    await settings.updateWorkspace('default', { displayName: 'Bump', assistant: null }, []);
    expect(await live.resolve(loopback('x'))).toBe(start);
    expect(await audits(s, 'assistant.invalid')).toEqual(['default']);
    expect(warnings).toHaveLength(1);

    await settings.saveAssistant('default', edited(settingsOf(config.assistants.default!), { systemPrompt: 'Edited.' }), { create: false }, []);
    const edit = await live.resolve(loopback('x'));
    expect(edit.config.systemPrompt).toBe('Edited.');
    expect(await settings.resetAssistant('default', [])).toBe(true);
    expect(await live.resolve(loopback('x'))).toBe(start);
  });

  it("survives a restart: the worker's start-up mirror of the config file never overwrites a dashboard edit", async () => {
    const { s, deps, settings } = await open();
    await settings.saveAssistant('helper', edited(settingsOf(config.assistants.helper!), { systemPrompt: 'Edited in the dashboard.' }), { create: false }, []);
    await s.upsertAssistants(config.assistants);
    const restarted = await LiveAssistants.open(deps);
    const helper = await restarted.resolve(loopback('x', 'helper'));
    expect(helper.config.systemPrompt).toBe('Edited in the dashboard.');
    // Keys the dashboard cannot set still come from the file.
    expect(helper.config.fallback).toBe('auto');
  });
});
