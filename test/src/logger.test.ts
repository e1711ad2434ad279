import { describe, expect, it } from 'vitest';
import { tolerant } from '../../src/logger.js';

const failing = (code: string) => ({
  write() {
    throw Object.assign(new Error(`write ${code}`), { code });
  },
});

describe('the log destination', () => {
  it('drops a line written to an output that is gone (a hung-up terminal, a closed pipe), and passes others on', () => {
    const lines: string[] = [];
    tolerant({ write: (l: string) => lines.push(l) }).write('kept\n');
    expect(lines).toEqual(['kept\n']);
    expect(() => tolerant(failing('EIO')).write('x\n')).not.toThrow();
    expect(() => tolerant(failing('EPIPE')).write('x\n')).not.toThrow();
    expect(() => tolerant(failing('ENOSPC')).write('x\n')).toThrow(/ENOSPC/);
  });
});
