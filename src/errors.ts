/** Bad usage of a command: exit code 2, like a config error. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A reader gone (EPIPE) or a terminal hung up (EIO): what is written there goes nowhere, and that is no failure. */
export const isGoneOutput = (error: unknown): boolean => ['EPIPE', 'EIO'].includes((error as NodeJS.ErrnoException | null)?.code ?? '');
