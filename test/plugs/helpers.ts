import { parseConfig, type Config } from '../../core/config.js';
import { parseChannelEvent, type ChannelEvent, type ChannelEventInput } from '../../core/event.js';
import { initStep, type AnyPlug, type Context, type PlugServices } from '../../core/plug.js';

/** A valid DM event from telegram:42; `over` replaces any top-level field. */
export function makeEvent(over: Partial<ChannelEventInput> = {}): ChannelEvent {
  return parseChannelEvent({
    v: 1,
    id: `evt-${Math.random().toString(36).slice(2)}`,
    platform: 'telegram',
    account: 'bot',
    conversation: { id: '42', kind: 'dm' },
    sender: { id: '42', isBot: false },
    text: 'hello',
    platformMessageId: '1',
    receivedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  });
}

export function makeContext(event: ChannelEvent, config: Config = parseConfig({})): Context {
  const assistant = config.assistants.default ?? Object.values(config.assistants)[0]!;
  return {
    stage: 'inbound',
    event,
    assistant: { name: 'default', config: assistant },
    text: event.text,
    messages: [],
    assigns: {},
    halted: false,
    private: { audit: [], notify: [] },
  };
}

export function makeServices(over: Partial<PlugServices> & { configInput?: unknown } = {}): PlugServices {
  const { configInput, ...rest } = over;
  return { config: parseConfig(configInput ?? {}), now: () => 0, extra: {}, ...rest };
}

/** A plug's state as a pipeline builds it: options checked against the plug's schema, then its init. */
export const initState = (plug: AnyPlug, options: Record<string, unknown>, services: PlugServices): unknown =>
  initStep({ plug: plug.name, ...options }, new Map([[plug.name, plug]]), services).state;

/** Elixir Plug's test idiom: init with options, then call with a context built for the event. */
export async function runPlug(
  plug: AnyPlug,
  options: Record<string, unknown>,
  event: ChannelEvent | string,
  services: PlugServices = makeServices(),
): Promise<Context> {
  const state = initState(plug, options, services);
  const ev = typeof event === 'string' ? makeEvent({ text: event }) : event;
  return plug.call(makeContext(ev, services.config), state);
}

/** Init once, then call per event: for plugs whose behaviour depends on what came before. */
export function initPlug(plug: AnyPlug, options: Record<string, unknown>, services: PlugServices): (event: ChannelEvent) => Promise<Context> {
  const state = initState(plug, options, services);
  return async (event) => plug.call(makeContext(event, services.config), state);
}
