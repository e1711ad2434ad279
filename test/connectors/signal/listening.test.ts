import { createServer, type Server } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackListening } from '../../../connectors/signal/listening.js';
import { tempDir } from '../../helpers/tmp.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (local: string, state: string) => `   0: ${local} 00000000:0000 ${state} 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0\n`;

describe('loopbackListening', () => {
  it('reads listeners on loopback or every address from the kernel tables, and nothing else', () => {
    const dir = tempDir('mc-listen-');
    const v4 = join(dir.dir, 'tcp');
    const v6 = join(dir.dir, 'tcp6');
    // 127.0.0.1:7583 listening, 0.0.0.0:8080 listening, 10.0.0.5:9000 listening, 127.0.0.1:7000 only connected.
    writeFileSync(v4, HEADER + row('0100007F:1D9F', '0A') + row('00000000:1F90', '0A') + row('0500000A:2328', '0A') + row('0100007F:1B58', '01'));
    writeFileSync(v6, HEADER + row('00000000000000000000000001000000:1F91', '0A'));
    const listening = (port: number) => loopbackListening(port, [v4, v6]);
    expect([7583, 8080, 8081, 9000, 7000, 7584].map(listening)).toEqual([true, true, true, false, false, false]);
    expect(loopbackListening(7583, [join(dir.dir, 'missing')])).toBeUndefined();
    dir.remove();
  });

  it.runIf(process.platform === 'linux')('sees a real loopback server come and go', async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    expect(loopbackListening(port)).toBe(true);
    await new Promise((resolve) => server.close(resolve));
    servers.pop();
    expect(loopbackListening(port)).toBe(false);
  });
});
