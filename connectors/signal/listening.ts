import { readFileSync } from 'node:fs';

/** Loopback and wildcard addresses as /proc/net/tcp{,6} write them (IPv4 little-endian, IPv6 in 32-bit words). */
const LOCAL_V4 = (hex: string) => hex === '00000000' || hex.slice(6, 8) === '7F';
const LOCAL_V6 = new Set(['0'.repeat(32), '00000000000000000000000001000000', '0000000000000000FFFF00000100007F']);
const LISTEN = '0A';

/**
 * Whether a process on this machine listens on loopback `port`, read from the kernel's socket tables: a check
 * that connects nowhere. Under `--receive-mode=on-connection` a connection to signal-cli subscribes to receiving,
 * and what it wrote to a probe that then hung up would be lost. Undefined where the tables cannot be read (not Linux).
 */
export function loopbackListening(port: number, tables = ['/proc/net/tcp', '/proc/net/tcp6']): boolean | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let readable = false;
  for (const table of tables) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    readable = true;
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      const [address, p] = local?.split(':') ?? [];
      if (state !== LISTEN || p !== hexPort || !address) continue;
      if (address.length === 8 ? LOCAL_V4(address) : LOCAL_V6.has(address)) return true;
    }
  }
  return readable ? false : undefined;
}
