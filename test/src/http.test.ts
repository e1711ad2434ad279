import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/http.js';

describe('HTTP surface', () => {
  const app = createApp();

  it('answers /health without auth and with nothing private', async () => {
    const r = await app.request('/health');
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ok' });
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 401 everywhere else until an admin password exists', async () => {
    for (const [method, path] of [['GET', '/'], ['GET', '/v1/models'], ['POST', '/v1/chat/completions'], ['GET', '/api/config'], ['GET', '/health/../admin']]) {
      const r = await app.request(path!, { method: method! });
      expect(r.status, `${method} ${path}`).toBe(401);
    }
  });
});
