import type { AnyPlug } from '../core/plug.js';
import { accessPlug } from './access.js';
import { budgetPlug } from './budget.js';
import { commandsPlug } from './commands.js';
import { groupGatePlug } from './group-gate.js';
import { guardPlug } from './guard.js';
import { rateLimitPlug } from './rate-limit.js';
import { redactPlug } from './redact.js';

/** The built-in plugs by the names pipelines use. */
export function builtinPlugs(): Map<string, AnyPlug> {
  const plugs: AnyPlug[] = [rateLimitPlug, accessPlug, groupGatePlug, redactPlug, guardPlug, budgetPlug, commandsPlug];
  return new Map(plugs.map((p) => [p.name, p]));
}
