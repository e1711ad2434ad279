import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, BackendRequest } from '../../core/backend.js';
import { reaches } from '../../plugs/budget.js';
import { startTestGateway } from '../helpers/gateway.js';
import { makeEvent } from '../helpers/tmp.js';

/** Echoes, reporting usage as a priced model would; also shows how much history it was given. */
class MeteredBackend implements Backend {
  readonly name = 'metered';
  readonly format = 'plain' as const;
  async *stream(req: BackendRequest) {
    yield { type: 'delta' as const, text: `${req.messages.length - 2}:${req.messages.at(-1)!.content}` };
    yield { type: 'usage' as const, inputTokens: 60, outputTokens: 40, costUsd: 0.01 };
  }
}

let gw: Awaited<ReturnType<typeof startTestGateway>> | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});
const say = async (text: string, n: number) => {
  await gw!.publish([makeEvent({ text })]);
  return (await gw!.waitForReplies(n)).at(-1)!;
};

describe('budget plug', () => {
  it('answers until the workspace has used its daily tokens, then says so instead of calling the backend', async () => {
    gw = await startTestGateway({
      config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['access'], request: [{ plug: 'budget', dailyTokens: 150 }] } } } },
      backend: new MeteredBackend(),
    });
    expect((await say('one', 1)).text).toBe('0:one');
    expect((await say('two', 2)).text).toBe('2:two');
    const third = await say('three', 3);
    expect(third).toMatchObject({ kind: 'notice', haltedBy: 'budget' });
    expect(third.text).toMatch(/budget for today/);
    expect(await gw.store.usageSince('default', new Date().toISOString().slice(0, 10))).toEqual({ tokens: 200, costUsd: 0.02 });
  });

  it('in the inbound stage, counts a conversation in the workspace the dashboard moved it to', async () => {
    gw = await startTestGateway({
      config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['access', { plug: 'budget', dailyTokens: 150 }] } } } },
      backend: new MeteredBackend(),
    });
    const from = (id: string, text: string) => makeEvent({ text, conversation: { id, kind: 'dm' }, sender: { id, name: id, isBot: false } });
    const says = async (id: string, text: string, n: number) => {
      await gw!.publish([from(id, text)]);
      return (await gw!.waitForReplies(n)).at(-1)!;
    };
    expect((await says('100', 'one', 1)).text).toBe('0:one');
    expect((await says('200', 'two', 2)).text).toBe('0:two');
    // The default workspace has spent 200 of its 150; the second conversation moves to a workspace of its own.
    const queries = gw.store.dashboardQueries();
    await queries.moveChannel((await queries.channelByConversation('telegram', '200'))!, 'ws2');
    expect(await says('100', 'three', 3)).toMatchObject({ kind: 'notice', haltedBy: 'budget' });
    expect(await says('200', 'four', 4)).toMatchObject({ kind: 'reply', text: expect.stringMatching(/:four$/) });
    expect(await gw.store.usageSince('ws2', '2000-01-01')).toMatchObject({ tokens: 100 });
  });

  it('counts turns already running at an average turn each: a burst cannot all start under the ceiling', async () => {
    class SlowMetered extends MeteredBackend {
      override async *stream(req: BackendRequest) {
        await sleep(300);
        yield* super.stream(req);
      }
    }
    gw = await startTestGateway({
      config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['access'], request: [{ plug: 'budget', dailyTokens: 350 }] } } } },
      backend: new SlowMetered(),
    });
    const from = (id: string) => makeEvent({ text: `from ${id}`, conversation: { id, kind: 'dm' }, sender: { id, name: id, isBot: false } });
    await gw.publish([from('1')]);
    await gw.waitForReplies(1); // 100 tokens spent: an average turn costs 100
    // Six at once: 100 spent, then each admitted turn holds 100 more; the fourth finds 400 counted against 350.
    await gw.publish(['2', '3', '4', '5', '6', '7'].map(from));
    const replies = (await gw.waitForReplies(7)).slice(1);
    expect(replies.filter((r) => r.kind === 'reply')).toHaveLength(3);
    expect(replies.filter((r) => r.kind === 'notice' && r.haltedBy === 'budget')).toHaveLength(3);
    expect(await gw.store.usageSince('default', '2000-01-01')).toMatchObject({ tokens: 400 });
  });

  it('lets a turn\'s hold go when it commits: turns one after another are judged by what they spent alone', async () => {
    gw = await startTestGateway({
      config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['access'], request: [{ plug: 'budget', dailyTokens: 350 }] } } } },
      backend: new MeteredBackend(),
    });
    // 0, 100, 200 and 300 spent before each: all under 350 (held ones left behind would make it 500 by the fourth).
    for (const [i, text] of ['one', 'two', 'three', 'four'].entries()) expect((await say(text, i + 1)).kind).toBe('reply');
    expect(await say('five', 5)).toMatchObject({ kind: 'notice', haltedBy: 'budget' });
  });

  it('counts a limit reached give or take float rounding: five holds of an average $0.2 reach $1', () => {
    expect(reaches((2.4 / 12) * 5, 1)).toBe(true); // 0.9999999999999999
    expect(reaches(0.99, 1)).toBe(false);
    expect(reaches(1_000, 1_000)).toBe(true);
    expect(reaches(999, 1_000)).toBe(false);
  });

  it('refuses a budget without limits at start', async () => {
    await expect(startTestGateway({ config: { assistants: { a: { pipelines: { inbound: [{ plug: 'budget' }] } } } } })).rejects.toThrow(/at least one of/);
  });
});

describe('commands plug', () => {
  it('answers /help, /whoami and /status without a backend call; /reset starts a new session', async () => {
    gw = await startTestGateway({
      config: { access: { dm: 'allowlist', allow: ['telegram:100'], owners: ['telegram:100'] }, assistants: { a: { pipelines: { inbound: ['access', 'commands'] } } } },
      backend: new MeteredBackend(),
    });
    expect((await say('/help', 1)).text).toMatch(/\/reset[\s\S]*\/fallback/);
    expect((await say('/whoami', 2)).text).toBe('You are telegram:100 (Ada). Access: allow. Owner: yes.');
    expect((await say('/status', 3)).text).toMatch(/^Assistant: a\. Backend: echo/);
    expect((await say('remember', 4)).text).toBe('0:remember');
    expect((await say('again', 5)).text).toBe('2:again');
    expect((await say('/reset', 6)).text).toMatch(/afresh/);
    expect((await say('fresh', 7)).text).toBe('0:fresh');
    expect(await gw.store.usageSince('default', '2000-01-01')).toMatchObject({ tokens: 300 });
  });

  it('/reset on a request that brings its own context says there is nothing kept', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['access', 'commands'] } } } } });
    await gw.publish([makeEvent({ text: '/reset', context: [{ role: 'user', content: 'earlier' }] })]);
    expect((await gw.waitForReplies(1))[0]!.text).toBe('Nothing is kept between API requests: each one brings its own messages.');
  });

  it('is out of reach of senders access does not admit', async () => {
    gw = await startTestGateway({ config: { access: { dm: 'allowlist' }, assistants: { a: { pipelines: { inbound: ['access', 'commands'] } } } } });
    await gw.publish([makeEvent({ text: '/whoami' })]);
    await sleep(300);
    expect(gw.sent).toEqual([]);
  });
});
