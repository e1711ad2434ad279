/**
 * @peculiar/x509 2.x needs a Reflect metadata polyfill (tsyringe checks for it at load) and none is installed. This is
 * the few functions tsyringe and tslib use, installed only when absent; `import 'reflect-metadata'` can replace it.
 */
function installReflectPolyfill(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  type Key = string | symbol | undefined;
  const store = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();
  const own = (target: object, prop: Key, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp && create) store.set(target, (byProp = new Map()));
    let map = byProp?.get(prop);
    if (!map && create && byProp) byProp.set(prop, (map = new Map()));
    return map;
  };
  const define = (key: unknown, value: unknown, target: object, prop?: Key) => void own(target, prop, true)!.set(key, value);
  const getOwn = (key: unknown, target: object, prop?: Key) => own(target, prop, false)?.get(key);
  const get = (key: unknown, target: object, prop?: Key): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const map = own(t, prop, false);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
  Object.assign(R, {
    defineMetadata: define,
    getOwnMetadata: getOwn,
    getMetadata: get,
    hasMetadata: (key: unknown, target: object, prop?: Key) => get(key, target, prop) !== undefined,
    metadata: (key: unknown, value: unknown) => (target: object, prop?: Key) => define(key, value, target, prop),
  });
}

installReflectPolyfill();
