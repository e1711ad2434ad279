import { describe, expect, it } from 'vitest';
import { diskSpaceVerdict } from '../../src/storage-verdicts.js';

const MIB = 1024 * 1024;
const disk = (freeMib: number) => () => ({ bavail: (freeMib * MIB) / 4096, bsize: 4096 });

describe('disk space verdict', () => {
  it('fails a nearly full disk, warns of a low one, and says how much is free either way', () => {
    expect(diskSpaceVerdict('/data', disk(5))).toEqual({ ok: false, what: 'disk space', detail: '5.0 MiB free on the disk holding /data: messages cannot be stored; free some space' });
    expect(diskSpaceVerdict('/data', disk(100))).toEqual({ ok: true, warn: true, what: 'disk space', detail: 'only 100 MiB free on the disk holding /data' });
    expect(diskSpaceVerdict('/data', disk(4096))).toEqual({ ok: true, what: 'disk space', detail: '4096 MiB free on the disk holding /data' });
  });
});
