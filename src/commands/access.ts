import { failed, out, withStore } from './with-store.js';
import { outsideAllowlist, PAIRING_CODE, revocable } from '../../core/access.js';
import { oneLineName } from '../../core/event.js';
import { identityProblem } from '../../core/identity.js';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from '../runtime.js';

const identityArg = (id: string): string => {
  const problem = identityProblem(id);
  if (problem) throw new UsageError(`"${id}": ${problem}`);
  return id;
};

const onAllowlist = (id: string): string => {
  const outside = outsideAllowlist(id);
  if (outside) throw new UsageError(outside);
  return id;
};

export const pairList = (options: GlobalOptions) =>
  withStore(options, async (store) => {
    const pending = await store.accessStore().pendingPairings(Date.now());
    // CODE platform:sender-id expires-at name — the name last, since it is free text. Events arrive with control
    // characters out of names already; a row written otherwise still prints as one line, with no bidi reordering.
    for (const p of pending) out(`${p.code} ${p.identity} ${new Date(p.expiresAt).toISOString()} ${oneLineName(p.name)}`.trimEnd());
    if (pending.length === 0) process.stderr.write('no pairing requests pending\n');
    return 0;
  });

export const pairDecide = (code: string, decision: 'approved' | 'denied', options: GlobalOptions) =>
  withStore(options, async (store) => {
    const normalized = code.trim().toUpperCase();
    const audit = (identity: string) => [{ kind: `pairing.${decision}`, actor: 'cli', subject: identity, data: { code: normalized } }];
    const result = PAIRING_CODE.test(normalized) ? await store.accessStore().decidePairing(normalized, decision, Date.now(), audit) : ({ ok: false, reason: 'unknown' } as const);
    if (!result.ok) {
      failed(`no pending pairing request ${code} (${result.reason})`);
      return 1;
    }
    out(decision === 'approved' ? `${result.identity} may now talk to the assistant` : `${result.identity} is blocked (lift with: monkeyclaw access allow ${result.identity})`);
    return 0;
  });

export const accessList = (options: GlobalOptions) =>
  withStore(options, async (store, config) => {
    const overrides = await store.accessStore().allOverrides();
    const overridden = new Set(overrides.map((o) => o.identity));
    for (const id of config.access.allow) if (!overridden.has(id)) out(`${id}\tallow\tconfig`);
    for (const o of overrides) out(`${o.identity}\t${o.action}\t${o.source}`);
    for (const id of config.access.deny) out(`${id}\tdeny\tconfig (always wins)`);
    for (const id of config.access.owners) out(`${id}\towner\tconfig`);
    return 0;
  });

export const accessAllow = (id: string, options: GlobalOptions) =>
  withStore(options, async (store, config) => {
    onAllowlist(identityArg(id));
    await store.accessStore().setOverride(id, 'allow', 'cli', [{ kind: 'access.allowed', actor: 'cli', subject: id }]);
    out(config.access.deny.includes(id) ? `${id} allowed, but the config's deny list still refuses it` : `${id} allowed`);
    return 0;
  });

export const accessRevoke = (id: string, options: GlobalOptions) =>
  withStore(options, async (store, config) => {
    const current = (await store.accessStore().overrides([id])).get(id);
    // An entry already stored (perhaps before these rules) can always be revoked, whatever its shape.
    if (current === undefined) onAllowlist(identityArg(id));
    if (!revocable(config.access, id, current)) {
      const why =
        current === 'revoke'
          ? `${id} is already revoked`
          : config.access.owners.includes(id)
            ? `${id} is not on the allowlist; it is an owner, admitted by access.owners in the config`
            : `${id} is not on the allowlist`;
      failed(why);
      return 1;
    }
    await store.accessStore().setOverride(id, 'revoke', 'cli', [{ kind: 'access.revoked', actor: 'cli', subject: id }]);
    out(`${id} revoked`);
    return 0;
  });
