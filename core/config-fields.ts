import { z } from 'zod';
import { identityProblem } from './identity.js';

/** Field schemas the config's sections share: credential references, platform identities, ports. */

/** A credential reference: `secret:NAME` (the vault) or `env:NAME`. */
export const REF = /^(secret|env):[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const credential = z.string().superRefine((v, ctx) => {
  if (REF.test(v)) return;
  // A reference with a bad name is a typo, not a pasted token: say which.
  const message = /^(secret|env):/.test(v)
    ? 'a reference names a secret or variable with letters, digits and _ (not starting with a digit), e.g. secret:TELEGRAM_TOKEN'
    : 'a credential must be a reference, secret:NAME or env:NAME; literal credentials are refused. ' +
      'Store it with `monkeyclaw secrets set NAME` (value on stdin) and write secret:NAME here';
  ctx.addIssue({ code: 'custom', message });
});

export const identity = z.string().superRefine((value, ctx) => {
  const problem = identityProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
export const port = z.number().int().min(1).max(65535);
