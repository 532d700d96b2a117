/**
 * The leadership machine's I/O: its lease actors implemented by NatsLease (src/nats/lease.ts),
 * each request bounded by the timing's request timeout, plus the flush the composition root
 * supplies (the write path's buffered points into the spool).
 */
import { fromCallback, fromPromise } from 'xstate';
import { type LeaseAcquire, type LeaseWrite, type LeadershipEvent, leadershipMachine } from '../../machines/leadership.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NatsLease } from './lease.js';

export interface LeadershipDeps {
  lease: NatsLease;
  requestTimeoutMs: number;
  /** Puts what is buffered into the spool (the feed has already been stopped). */
  flush(): Promise<void>;
  logger: Logger;
}

function bounded<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer from NATS within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function provideLeadership(deps: LeadershipDeps) {
  const { lease, requestTimeoutMs: ms, logger } = deps;
  return leadershipMachine.provide({
    actors: {
      acquire: fromPromise<LeaseAcquire>(() => bounded('taking the lease', lease.acquire(), ms)),
      renew: fromPromise<LeaseWrite, { revision: number }>(({ input }) => bounded('renewing the lease', lease.renew(input.revision), ms)),
      release: fromPromise<void, { revision: number }>(({ input }) => bounded('releasing the lease', lease.release(input.revision), ms)),
      watchReleases: fromCallback<LeadershipEvent>(({ sendBack }) => {
        let stop: (() => void) | null = null;
        let stopped = false;
        lease
          .watchReleases(() => sendBack({ type: 'LEASE_RELEASED' }))
          .then(
            (s) => (stopped ? s() : (stop = s)),
            // Without the watch a standby still takes over on its next poll.
            (err: unknown) => logger.debug({ err: describeError(err) }, 'lease watch not started; relying on polls'),
          );
        return () => {
          stopped = true;
          stop?.();
        };
      }),
      flush: fromPromise<void>(() => deps.flush()),
    },
  });
}
