/** signal-cli's JSON-RPC endpoint as the config writes it: `tcp://host:port` or `http://host:port` (its --http mode). */
export type Endpoint = { kind: 'tcp' | 'http'; host: string; port: number; url: string };

export const ENDPOINT_FORM = 'must be tcp://host:port or http://host:port';

/** The endpoint, or undefined when `rpc` has no usable host and port (1–65535). */
export function parseEndpoint(rpc: string): Endpoint | undefined {
  const m = /^(tcp|http):\/\/(\[[0-9a-fA-F:]+\]|[^/:\s]+):(\d{1,5})\/?$/.exec(rpc);
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535)) return undefined;
  return { kind: m[1] as 'tcp' | 'http', host: m[2]!.replace(/^\[|\]$/g, ''), port, url: `${m[1]}://${m[2]}:${port}` };
}
