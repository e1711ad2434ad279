import { SimpleShardingStrategy, type IShardingStrategy, type WebSocketOptions } from 'discord.js';

/** @discordjs/ws's manager, as discord.js hands it to `ws.buildStrategy` (discord.js has a class of the same name). */
export type GatewayManager = Parameters<NonNullable<WebSocketOptions['buildStrategy']>>[0];
/** @discordjs/ws's WebSocketShardEvents.Dispatch (discord.js exports an older enum under the same name). */
const DISPATCH = 'dispatch';

export interface DispatchGuard {
  /** Decides whether discord.js may see a dispatch frame (op 0, untrusted); false drops it (the guard audits why). */
  admit(packet: unknown): boolean;
  /** discord.js threw while handling a dispatch we admitted. */
  failed(error: unknown, packet: unknown): void;
}

/**
 * discord.js's own sharding strategy, with every shard event passing through a guard on its way to discord.js.
 * Why: discord.js handles a dispatch inside a promise nobody awaits, so a malformed MESSAGE_CREATE would throw
 * from deep in its caches and end the process as an unhandled rejection. Here each dispatch is validated first,
 * and a throw from discord.js is caught and reported instead.
 *
 * The strategy sees the manager through a proxy: `emit` is guarded and the options say `compression: null`, so the
 * gateway speaks plain JSON (`?v=10&encoding=json`) whether or not the optional zlib-sync module is installed.
 */
export function guardedStrategy(manager: GatewayManager, guard: DispatchGuard): IShardingStrategy {
  const emit = (event: string, payload: { data?: unknown }): boolean => {
    if (event === DISPATCH && !guard.admit(payload.data)) return false;
    try {
      return (manager.emit as (e: string, p: unknown) => boolean)(event, payload);
    } catch (error) {
      guard.failed(error, payload.data);
      return false;
    }
  };
  const view = new Proxy(manager, {
    get(target, prop) {
      if (prop === 'emit') return emit;
      if (prop === 'options') return { ...target.options, compression: null };
      const value: unknown = Reflect.get(target, prop, target);
      // Bound to the real manager: its private fields are not reachable through a proxy receiver.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return new SimpleShardingStrategy(view);
}
