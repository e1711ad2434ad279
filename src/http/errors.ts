/**
 * The error body every route answers with: OpenAI's shape (`message`, `type`, `param`, `code`), so that an OpenAI
 * client reading any of the gateway's refusals — a missing client certificate, an unknown route — finds its fields.
 */
export const httpError = (message: string, type: string, code: string | null, param: string | null = null) => ({ error: { message, type, param, code } });
