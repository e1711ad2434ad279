/** Bad usage of a command: exit code 2, like a config error. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
