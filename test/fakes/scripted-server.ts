import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * The skeleton of the backend fakes: an HTTP server on loopback (port 0) that records every request with its JSON
 * body and hands it to `respond`, which takes the next script the test queued when it needs one (undefined when
 * none is left).
 */
export async function startScriptedServer<S>(respond: (request: RecordedRequest, res: ServerResponse, next: () => S | undefined) => unknown) {
  const scripts: S[] = [];
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString('utf8')));
      req.on('end', () => resolve(data));
    });
    const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
    requests.push(request);
    await respond(request, res, () => scripts.shift());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    script: (...s: S[]) => void scripts.push(...s),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
