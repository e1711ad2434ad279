import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EchoBackend } from '../../core/backends/echo.js';
import { LIFECYCLE_EVENTS, parseConfig, type LifecycleEvent } from '../../core/config.js';
import { parseChannelEvent } from '../../core/event.js';
import { buildPipelines, halt, NO_OPTIONS, PlugConfigError, runPipeline, type AnyPlug, type Context } from '../../core/plug.js';
import { talk } from '../../core/talk.js';
import { makeEvent } from '../helpers/tmp.js';
import { startTestGateway } from '../helpers/gateway.js';

const services = () => ({ config: parseConfig({}), now: Date.now, extra: {} });

function contextFor(text = 'hi'): Context {
  return {
    stage: 'inbound',
    event: parseChannelEvent(makeEvent({ text })),
    assistant: { name: 'a', config: parseConfig({}).assistants.default! },
    text,
    messages: [],
    assigns: {},
    halted: false,
    private: { audit: [], notify: [] },
  };
}

const step = (plug: AnyPlug, options: Record<string, unknown> = {}) => ({ plug, state: plug.init(options, services()) });
const recorder = (name: string, seen: string[]): AnyPlug => ({ name, options: NO_OPTIONS, init: (o) => o, call: (ctx) => (seen.push(`${name}@${ctx.stage}`), ctx) });

describe('plug runner', () => {
  it('runs init once and call per event, passing assigns along', async () => {
    let inits = 0;
    const setter: AnyPlug = { name: 'setter', options: z.object({ value: z.number() }), init: (o) => (inits++, o.value), call: (ctx, v) => ({ ...ctx, assigns: { ...ctx.assigns, v } }) };
    const reader: AnyPlug = { name: 'reader', options: NO_OPTIONS, init: () => null, call: (ctx) => ({ ...ctx, text: `${ctx.text}:${String(ctx.assigns.v)}` }) };
    const steps = [step(setter, { value: 42 }), step(reader)];
    expect((await runPipeline(steps, contextFor('a'))).text).toBe('a:42');
    expect((await runPipeline(steps, contextFor('b'))).text).toBe('b:42');
    expect(inits).toBe(1);
  });

  it('stops at a halt, names the halting plug and audits it', async () => {
    const seen: string[] = [];
    const stopper: AnyPlug = { name: 'stopper', options: NO_OPTIONS, init: () => null, call: (ctx) => halt(ctx, 'stopper', 'no', 'go away') };
    const out = await runPipeline([step(recorder('one', seen)), step(stopper), step(recorder('two', seen))], contextFor());
    expect(seen).toEqual(['one@inbound']);
    expect(out.halt).toEqual({ plug: 'stopper', reason: 'no', notice: 'go away' });
    expect(out.private.audit).toEqual([expect.objectContaining({ kind: 'plug.halted', actor: 'plug:stopper' })]);
  });

  it('turns a throw or a bad return value into a halt of that event, audited', async () => {
    const thrower: AnyPlug = { name: 'thrower', options: NO_OPTIONS, init: () => null, call: () => { throw new Error('boom'); } };
    const out = await runPipeline([step(thrower)], contextFor());
    expect(out.halted).toBe(true);
    expect(out.halt?.reason).toContain('boom');
    expect(out.private.audit[0]).toMatchObject({ kind: 'plug.error', actor: 'plug:thrower' });
    const forgetful: AnyPlug = { name: 'forgetful', options: NO_OPTIONS, init: () => null, call: () => undefined as unknown as Context };
    const out2 = await runPipeline([step(forgetful)], contextFor());
    expect(out2.halt?.reason).toMatch(/forgetful.*returned undefined/);
  });

  it('refuses an unknown plug name at build time, naming its place in the config', () => {
    const config = parseConfig({ assistants: { main: { pipelines: { inbound: ['access', 'nope'] } } } });
    expect(() => buildPipelines('main', config.assistants.main!, new Map(), services())).toThrow(PlugConfigError);
    expect(() => buildPipelines('main', config.assistants.main!, new Map(), services())).toThrow(/assistants\.main\.pipelines\.inbound\.0: unknown plug "access"/);
  });

  it('fires every declared lifecycle event, each reaching its plug, in order', async () => {
    const seen: string[] = [];
    const registry = new Map(LIFECYCLE_EVENTS.map((e) => [`rec-${e}`, recorder(`rec-${e}`, seen)] as const));
    const pipelines = Object.fromEntries(LIFECYCLE_EVENTS.map((e) => [e, [`rec-${e}`]])) as Record<LifecycleEvent, string[]>;
    const config = parseConfig({ assistants: { a: { pipelines } } });
    const assistant = { name: 'a', config: config.assistants.a!, pipelines: buildPipelines('a', config.assistants.a!, registry, services()), backends: [new EchoBackend()] };
    const store = { ensureSession: async () => ({ channel: {} as never, session: { id: 1, channelId: 1, workspaceId: 'default', scope: 'dm:1' } }), history: async () => [] };
    const result = await talk({ store, assistantFor: () => assistant, now: Date.now }, parseChannelEvent(makeEvent({ text: 'x' })));
    expect(result.reply?.text).toBe('x');
    expect(seen).toEqual(LIFECYCLE_EVENTS.map((e) => `rec-${e}@${e}`));
  });

  it('a plug that throws halts only its own event: the worker answers the next one', async () => {
    const fragile: AnyPlug = { name: 'fragile', options: NO_OPTIONS, init: () => null, call: (ctx) => { if (ctx.text === 'explode') throw new Error('kaboom'); return ctx; } };
    const gw = await startTestGateway({ config: { access: { dm: 'open' }, assistants: { a: { pipelines: { inbound: ['fragile'] } } } }, plugs: [fragile] });
    try {
      await gw.publish([makeEvent({ text: 'explode' })]);
      await gw.publish([makeEvent({ text: 'fine' })]);
      expect((await gw.waitForReplies(1)).map((r) => r.text)).toEqual(['fine']);
      const kinds = (await gw.store.auditTail(20)).map((e) => `${e.kind}:${e.actor}`);
      expect(kinds).toContain('plug.error:plug:fragile');
      expect((await gw.queue.deadLetters()).length).toBe(0);
    } finally {
      await gw.stop();
    }
  });
});
