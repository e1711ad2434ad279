import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { fixture, type FakeDiscordState, type Json } from './state.js';

interface Session {
  id: string;
  seq: number;
  /** Every dispatch of the session, so a RESUME can replay what the client missed. */
  log: Array<{ op: 0; s: number; t: string; d: unknown }>;
  socket?: WebSocket;
}

/**
 * Discord's gateway as discord.js speaks it: HELLO (op 10), IDENTIFY (op 2) → READY with session_id and
 * resume_gateway_url, heartbeats (op 1) → ACK (op 11), RESUME (op 6) → replay + RESUMED, or INVALID_SESSION (op 9).
 * Plain JSON only (`encoding=json`, no `compress`): the connection URL is recorded so a test can hold the client to it.
 */
export class FakeGateway {
  readonly connections: URL[] = [];
  readonly identifies: Json[] = [];
  readonly resumes: Json[] = [];
  readonly heartbeats: number[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  private current: Session | undefined;

  constructor(
    private readonly state: FakeDiscordState,
    server: Server,
    private readonly resumeUrl: () => string,
    private readonly heartbeatInterval = 45_000,
  ) {
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      const url = new URL(req.url ?? '/', 'ws://fake');
      if (url.pathname !== '/gateway' && url.pathname !== '/resume') return socket.destroy();
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, url));
    });
  }

  /** Sends a dispatch (op 0) on the live session, or logs it for the RESUME that will follow a drop. */
  dispatch(t: string, d: unknown): boolean {
    const session = this.current;
    if (!session) return false;
    const frame = { op: 0 as const, s: ++session.seq, t, d };
    session.log.push(frame);
    if (session.socket?.readyState === 1) session.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Sends any frame as is, malformed ones included. */
  raw(frame: unknown): void {
    this.current?.socket?.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Closes the live connection with a close code, as Discord does when it refuses a session for good (4004, 4014). */
  closeWith(code: number, reason: string): void {
    this.current?.socket?.close(code, reason);
  }

  /** Drops the TCP connection without a close frame (1006 on the client); the session stays resumable. */
  drop(): void {
    const socket = this.current?.socket;
    if (this.current) this.current.socket = undefined;
    socket?.terminate();
  }

  get connected(): boolean {
    return this.current?.socket?.readyState === 1;
  }

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }

  private accept(ws: WebSocket, url: URL): void {
    this.connections.push(url);
    ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: this.heartbeatInterval } }));
    ws.on('message', (data) => {
      let frame: Json;
      try {
        frame = JSON.parse(String(data)) as Json;
      } catch {
        return ws.close(4002, 'Error while decoding payload.');
      }
      this.onFrame(ws, frame);
    });
    ws.on('close', (code) => {
      const session = [...this.sessions.values()].find((s) => s.socket === ws);
      if (!session) return;
      session.socket = undefined;
      // A normal close (1000/1001) ends the session on Discord: it cannot be resumed.
      if (code === 1000 || code === 1001) {
        this.sessions.delete(session.id);
        if (this.current === session) this.current = undefined;
      }
    });
  }

  private onFrame(ws: WebSocket, frame: Json): void {
    const d = (frame.d ?? {}) as Json;
    switch (frame.op) {
      case 1:
        this.heartbeats.push(Date.now());
        ws.send(JSON.stringify({ op: 11 }));
        return;
      case 2: {
        this.identifies.push(d);
        if (d.token !== this.state.token) return ws.close(4004, 'Authentication failed.');
        // A privileged intent the application has not enabled in the Developer Portal.
        if ((Number(d.intents) & this.state.disallowedIntents) !== 0) return ws.close(4014, 'Disallowed intent(s).');
        const session: Session = { id: randomBytes(16).toString('hex'), seq: 0, log: [], socket: ws };
        this.sessions.set(session.id, session);
        this.current = session;
        this.dispatch('READY', { ...fixture<Json>('ready'), user: this.state.bot, session_id: session.id, resume_gateway_url: this.resumeUrl() });
        return;
      }
      case 6: {
        this.resumes.push(d);
        const session = this.sessions.get(d.session_id as string);
        if (d.token !== this.state.token || !session) return void ws.send(JSON.stringify({ op: 9, d: false }));
        session.socket = ws;
        this.current = session;
        for (const missed of session.log.filter((f) => f.s > Number(d.seq ?? 0))) ws.send(JSON.stringify(missed));
        this.dispatch('RESUMED', {});
        return;
      }
      default:
        return;
    }
  }
}
