/**
 * "typing…" while the backend works. Telegram shows a chat action for about 5 seconds, so it is refreshed until the
 * reply goes out to that chat (or topic), and given up after `maxMs` so a silent backend does not type forever.
 */
export class Typing {
  private readonly active = new Map<string, { timer: NodeJS.Timeout; until: number }>();

  constructor(
    private readonly action: (chatId: string, threadId: string | undefined) => Promise<unknown>,
    private readonly refreshMs = 4_500,
    private readonly maxMs = 60_000,
  ) {}

  start(chatId: string, threadId: string | undefined): void {
    const key = `${chatId}/${threadId ?? ''}`;
    const until = Date.now() + this.maxMs;
    const running = this.active.get(key);
    if (running) {
      running.until = until;
      return;
    }
    const fire = () => void this.action(chatId, threadId).catch(() => undefined);
    const timer = setInterval(() => {
      const entry = this.active.get(key);
      if (!entry || Date.now() >= entry.until) this.stop(chatId, threadId);
      else fire();
    }, this.refreshMs);
    timer.unref();
    this.active.set(key, { timer, until });
    fire();
  }

  stop(chatId: string, threadId: string | undefined): void {
    const key = `${chatId}/${threadId ?? ''}`;
    const entry = this.active.get(key);
    if (!entry) return;
    clearInterval(entry.timer);
    this.active.delete(key);
  }

  stopAll(): void {
    for (const { timer } of this.active.values()) clearInterval(timer);
    this.active.clear();
  }
}
