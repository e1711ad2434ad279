import { UsageError } from '../errors.js';
import type { GlobalOptions } from '../runtime.js';

/** Connectors this build can run as processes (platform connectors arrive with their own issues). */
export const AVAILABLE_CONNECTORS = new Set<string>();

export async function runConnector(name: string, _options: GlobalOptions): Promise<number> {
  if (!AVAILABLE_CONNECTORS.has(name)) throw new UsageError(`connector "${name}" is not available in this build`);
  return 0;
}
