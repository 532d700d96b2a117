/**
 * A websocket client of an inspection stream (WS /inspect, or a Stately relay): records every
 * JSON message in arrival order; `until()` re-checks its predicate on every arrival.
 */
import WebSocket from 'ws';
import type { InspectActorEvent, InspectEvent } from '../../../src/inspector/events.js';

export class InspectClient {
  readonly messages: InspectEvent[] = [];
  closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(JSON.parse(data.toString()) as InspectEvent);
      this.notify();
    });
    ws.on('close', () => {
      this.closed = true;
      this.notify();
    });
    ws.on('error', () => undefined);
  }

  static connect(url: string, headers?: Record<string, string>): Promise<InspectClient> {
    const ws = new WebSocket(url, headers ? { headers } : {});
    const client = new InspectClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        reject(Object.assign(new Error(`upgrade refused with ${res.statusCode}`), { status: res.statusCode }));
      });
      ws.once('error', reject);
    });
  }

  actors(): InspectActorEvent[] {
    return this.messages.filter((m): m is InspectActorEvent => m.type === '@xstate.actor');
  }

  /** The latest registration of the actor with this systemId (or name). */
  actor(name: string): InspectActorEvent | undefined {
    return this.actors()
      .filter((a) => (a.systemId ?? a.name) === name)
      .at(-1);
  }

  /** Snapshot values seen for the actor with this systemId, oldest first (registrations included). */
  values(name: string): unknown[] {
    const ids = new Set(
      this.actors()
        .filter((a) => (a.systemId ?? a.name) === name)
        .map((a) => a.sessionId),
    );
    return this.messages
      .filter((m) => ids.has(m.sessionId) && m.type !== '@xstate.event')
      .map((m) => (m as { snapshot: { value?: unknown } }).snapshot.value);
  }

  until<T>(what: string, check: () => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const v = check();
        if (v) {
          cleanup();
          resolve(v);
        } else if (this.closed) {
          cleanup();
          reject(new Error(`socket closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(attempt);
      };
      this.waiters.add(attempt);
      attempt();
    });
  }

  close(): void {
    this.ws.terminate();
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}
