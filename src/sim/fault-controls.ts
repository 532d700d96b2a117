/**
 * The fault-injection half of the Simulator API. Every control is synchronous and takes effect
 * at once: the switches live in ctx.faults (consulted by routes, upgrades and sessions), and
 * what must happen now (closing sockets, sending frames) is done here.
 */
import { rate, type SimContext } from './context.js';
import type { FeedSession } from './session.js';
import type { Simulator } from './types.js';

export type FaultControls = Pick<
  Simulator,
  | 'dropConnections'
  | 'expireToken'
  | 'stall'
  | 'resume'
  | 'sendMalformed'
  | 'refuseConnections'
  | 'failAuthorize'
  | 'setMarketStatus'
  | 'setRate'
  | 'goDead'
  | 'deadOnConnect'
  | 'sendGarbage'
  | 'rateLimitCandles'
  | 'rejectCandleToken'
  | 'failInstrumentFile'
>;

/** Closes every open session (terminate without a code); returns how many. Throws ws's TypeError for a code no endpoint may send (e.g. 1006). */
function closeAll(ctx: SimContext, code?: number, reason?: string): number {
  let n = 0;
  for (const session of ctx.sessions) {
    if (!session.isOpen) continue;
    session.close(code, reason);
    n++;
  }
  return n;
}

function eachOpen(ctx: SimContext, fn: (session: FeedSession) => void): void {
  for (const session of ctx.sessions) if (session.isOpen) fn(session);
}

export function faultControls(ctx: SimContext): FaultControls {
  return {
    dropConnections: (o = {}) => {
      const n = closeAll(ctx, o.code, o.reason);
      ctx.log.info({ n, code: o.code }, 'fault: connections dropped');
      return n;
    },
    expireToken: () => {
      const token = ctx.tokens.rotate();
      // Policy violation: the socket's credentials are no longer valid (the real code is not documented).
      const n = closeAll(ctx, 1008, 'access token expired');
      ctx.log.info({ closed: n }, 'fault: token expired');
      return token;
    },
    stall: () => {
      ctx.faults.stalled = true;
      ctx.log.info('fault: stalled');
    },
    resume: () => {
      ctx.faults.stalled = false;
      eachOpen(ctx, (s) => s.flushHeld());
      ctx.log.info('fault: resumed');
    },
    sendMalformed: (count = 1) => eachOpen(ctx, (s) => s.sendMalformed(count)),
    refuseConnections: (on) => {
      ctx.faults.refusingConnections = on;
      ctx.log.info({ on }, 'fault: refusing connections');
    },
    failAuthorize: (status, times, retryAfterS) => ctx.faults.armAuthorizeFailure(status, times, retryAfterS),
    setMarketStatus: (status) => {
      ctx.marketStatus.update(status);
      eachOpen(ctx, (s) => s.sendMarketInfo());
    },
    setRate: (updatesPerSecond) => {
      ctx.rate = rate(updatesPerSecond);
    },
    goDead: () => {
      let n = 0;
      eachOpen(ctx, (s) => {
        s.goDead();
        n++;
      });
      return n;
    },
    deadOnConnect: (on) => {
      ctx.faults.deadOnConnect = on;
      if (on) eachOpen(ctx, (s) => s.goDead());
      ctx.log.info({ on }, 'fault: dead on connect');
    },
    sendGarbage: (on) => {
      ctx.faults.garbage = on;
      ctx.log.info({ on }, 'fault: garbage frames');
    },
    rateLimitCandles: (opts) => {
      ctx.faults.armCandleRateLimit(opts);
      ctx.log.info(opts, 'fault: candle API rate limited');
    },
    rejectCandleToken: (on) => {
      ctx.faults.candleTokenRejected = on;
      ctx.log.info({ on }, 'fault: candle API rejects the token');
    },
    failInstrumentFile: (on) => {
      ctx.faults.instrumentFileFailing = on;
      ctx.log.info({ on }, 'fault: instrument file failing');
    },
  };
}
