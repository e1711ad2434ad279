import type { AnyPlug } from '../core/plug.js';
import { accessPlug } from './access.js';
import { groupGatePlug } from './group-gate.js';
import { guardPlug } from './guard.js';
import { rateLimitPlug } from './rate-limit.js';
import { redactPlug } from './redact.js';

/** The built-in plugs by the names pipelines use. */
export function builtinPlugs(): Map<string, AnyPlug> {
  const plugs: AnyPlug[] = [rateLimitPlug, accessPlug, groupGatePlug, redactPlug, guardPlug];
  return new Map(plugs.map((p) => [p.name, p]));
}
