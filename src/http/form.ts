import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';

/** A form body, or a 400 for one that cannot be parsed: a broken multipart body is the client's error, not ours. */
export async function formBody(c: Context): Promise<Record<string, string | File>> {
  try {
    return await c.req.parseBody();
  } catch {
    throw new HTTPException(400, { message: 'malformed form body' });
  }
}
