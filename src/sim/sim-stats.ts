/**
 * The simulator's own counters, for tests to compare with what the service received. Frames and
 * updates are counted when the socket has written them out (ws send callback without error), not
 * when queued: a socket dropped with frames still queued must not count them as sent, or an
 * end-to-end "nothing lost" check would blame the service for the simulator's own drop.
 */
import type { SimulatorRequest, SimulatorStats } from './types.js';

const MAX_REQUESTS = 1000;

export class SimStats {
  authorizeCalls = 0;
  authorizeRejected = 0;
  connections = 0;
  activeConnections = 0;
  upgradesRefused = 0;
  framesSent = 0;
  updatesSent = 0;
  malformedSent = 0;
  pingsSent = 0;
  framesSkipped = 0;
  badRequests = 0;
  lastTs = 0;
  private readonly requests: SimulatorRequest[] = [];
  private readonly updatesByKey = new Map<string, number>();

  recordRequest(req: SimulatorRequest): void {
    this.requests.push(req);
    if (this.requests.length > MAX_REQUESTS) this.requests.splice(0, this.requests.length - MAX_REQUESTS);
  }

  /** A frame has been written out; `keys` are its instruments (none for market_info). */
  recordFrame(currentTs: number, keys: readonly string[] | null): void {
    this.framesSent++;
    if (currentTs > this.lastTs) this.lastTs = currentTs;
    if (!keys) return;
    this.updatesSent += keys.length;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      this.updatesByKey.set(k, (this.updatesByKey.get(k) ?? 0) + 1);
    }
  }

  snapshot(subscription: ReadonlyMap<string, string> | undefined): SimulatorStats {
    return {
      authorizeCalls: this.authorizeCalls,
      authorizeRejected: this.authorizeRejected,
      connections: this.connections,
      activeConnections: this.activeConnections,
      upgradesRefused: this.upgradesRefused,
      framesSent: this.framesSent,
      updatesSent: this.updatesSent,
      malformedSent: this.malformedSent,
      pingsSent: this.pingsSent,
      framesSkipped: this.framesSkipped,
      badRequests: this.badRequests,
      requests: this.requests.map((r) => ({ ...r, keys: [...r.keys] })),
      subscription: Object.fromEntries(subscription ?? []),
      updatesByKey: Object.fromEntries(this.updatesByKey),
      lastTs: this.lastTs,
    };
  }
}
