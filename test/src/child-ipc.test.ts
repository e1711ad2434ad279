import { describe, expect, it } from 'vitest';
import { DOCTOR_RESULT, parseDoctorResult } from '../../src/child-ipc.js';

describe("a one-off doctor run's verdicts over IPC", () => {
  it('keep a warning a warning, and refuse what is not a verdict list', () => {
    const verdicts = [
      { ok: true, warn: true, what: 'queue persistence', detail: 'a Redis restart would lose queued messages' },
      { ok: false, what: 'telegram token', detail: 'refused' },
    ];
    expect(parseDoctorResult({ type: DOCTOR_RESULT, verdicts })).toEqual(verdicts);
    expect(parseDoctorResult({ type: DOCTOR_RESULT, verdicts: [{ ok: 'yes' }] })).toBeUndefined();
    expect(parseDoctorResult({ type: 'other', verdicts })).toBeUndefined();
  });
});
