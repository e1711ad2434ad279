import { describe, expect, it } from 'vitest';
import { effectiveAssistant } from '../../core/assistant-settings.js';
import { parseConfig } from '../../core/config.js';
import { TURN_MARGIN_MS, turnDeadline, turnDeadlineMs } from '../../core/turn-deadline.js';

const config = parseConfig({
  backends: {
    echo: { type: 'echo' },
    llm: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' },
    slow: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', timeoutMs: 20_000 },
    agent: { type: 'cli', flavor: 'claude-code', command: '/usr/bin/claude' },
  },
  assistants: { default: {}, chain: { backend: ['slow', 'llm', 'agent'] } },
});

describe('how long a waiting surface waits for a turn', () => {
  it("is as long as the assistant's backends may take one after another, plus a minute", () => {
    expect(turnDeadlineMs(config, config.assistants.default!)).toBe(TURN_MARGIN_MS);
    expect(turnDeadlineMs(config, { backend: 'llm' })).toBe(TURN_MARGIN_MS + 300_000);
    // An agent CLI's own limit (10 minutes by default): web chat used to give up on it after 2.
    expect(turnDeadlineMs(config, config.assistants.chain!)).toBe(TURN_MARGIN_MS + 20_000 + 300_000 + 600_000);
  });

  it('adds the wait for an owner once, where tool calls may need one (it stops the backend clock, not this)', () => {
    const tools = parseConfig({ assistants: { a: { backend: 'llm', tools: { approve: ['Bash:git push*'], approvalTimeoutMs: 120_000 } } }, backends: { llm: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' } } });
    expect(turnDeadlineMs(tools, tools.assistants.a!)).toBe(TURN_MARGIN_MS + 300_000 + 120_000);
  });

  it("follows an assistant's dashboard settings, and knows the ones made there", async () => {
    const settings = (saved: Array<{ name: string; settings: unknown }>) => ({
      savedAssistants: async () => saved.map((s) => ({ ...s, createdAt: '', updatedAt: '' })) as never,
    });
    const moved = await effectiveAssistant(config, settings([{ name: 'default', settings: { backend: 'agent' } }]), 'default');
    expect(turnDeadlineMs(config, moved!)).toBe(TURN_MARGIN_MS + 600_000);
    const made = await effectiveAssistant(config, settings([{ name: 'new-one', settings: { backend: ['slow'] } }]), 'new-one');
    expect(turnDeadlineMs(config, made!)).toBe(TURN_MARGIN_MS + 20_000);
    expect(await effectiveAssistant(config, settings([]), 'nobody')).toBeUndefined();
  });

  it('waits, for a turn that names no assistant, as long as the one that answers may take: default, else the first', async () => {
    const config = parseConfig({
      backends: { slow: { type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', timeoutMs: 400_000 } },
      assistants: { solo: { backend: 'slow' } },
    });
    const none = { savedAssistants: async () => [] };
    expect(await turnDeadline(config, none)(undefined)).toBe(TURN_MARGIN_MS + 400_000);
    expect(await turnDeadline(config, none)('solo')).toBe(TURN_MARGIN_MS + 400_000);
  });
});
