/**
 * The composition root: builds every implementation, provides it to the machines, starts the
 * actor system and the server, and stops them in reverse. Startup order (logged): configuration
 * (done by the caller), spool, writer, drainer, notifier, server, then the feed. Shutdown: the
 * feed, the server, then storage (buffered points to InfluxDB or the spool), then the actors.
 */
import type { FastifyInstance } from 'fastify';
import { type Actor, createActor } from 'xstate';
import { pipelineMachine } from '../machines/pipeline.js';
import type { Config, FeedMode } from './config.js';
import { SubscriptionError } from './errors.js';
import { Fanout } from './fanout/fanout.js';
import type { Logger } from './logger.js';
import { provideNotifier } from './notify/http-notifier.js';
import { InspectionHub } from './inspector/hub.js';
import { createTransitionLogger } from './logging/transition-logger.js';
import { buildServer } from './server/app.js';
import { createMetrics } from './server/metrics.js';
import { buildReadiness, buildStateDocument } from './state-document.js';
import { Stats } from './stats.js';
import { createStorage } from './storage/storage.js';
import { connectionInput, provideConnection } from './upstox/connection-impl.js';
import { planSubscriptionChange } from './upstox/subscriptions.js';
import type { SubscriptionChangeRequest, SubscriptionChangeResult } from './upstox/subscription-types.js';
import { TokenSource } from './upstox/token-source.js';

export interface Service {
  /** http://host:port of the local server. */
  url: string;
  stats: Stats;
  root: Actor<typeof pipelineMachine>;
  state(): ReturnType<typeof buildStateDocument>;
  stop(): Promise<void>;
}

/** Time the storage gets on shutdown to write what is buffered (the rest stays spooled). */
const STORAGE_SHUTDOWN_MS = 6000;

export async function startService(config: Config, opts: { logger: Logger }): Promise<Service> {
  const { logger } = opts;
  const stats = new Stats();
  const startedAt = Date.now();
  let root: Actor<typeof pipelineMachine> | undefined;
  const actorRef = (id: string) => root?.system.get(id);

  // Storage first: the spool must be open before any tick can arrive.
  let metricsHook: ((s: number, o: string) => void) | undefined;
  const storage = createStorage({
    config,
    stats,
    logger,
    report: (event) => actorRef(event.type === 'SPOOLED' ? 'drainer' : 'writer')?.send(event),
    observeWriteLatency: (s, o) => metricsHook?.(s, o),
  });
  logger.info({ path: config.spool.path, pendingPoints: storage.spool.pendingPoints() }, 'spool open');

  const subscription = (): Record<string, FeedMode> =>
    (actorRef('connection')?.getSnapshot().context as { subscription?: Record<string, FeedMode> } | undefined)?.subscription ?? {};
  const fanout = new Fanout({
    stats,
    logger: logger.child({ component: 'ticks' }),
    maxBufferedBytes: config.http.wsMaxBufferedBytes,
    feedKeys: () => new Set(Object.keys(subscription())),
  });
  const sink = {
    frame(frame: Parameters<typeof fanout.publish>[0]) {
      storage.writePath.pushFrame(frame);
      fanout.publish(frame);
    },
  };

  const hub = new InspectionHub({
    logger: logger.child({ component: 'inspect' }),
    ...(config.inspect ? { relayUrl: config.inspect } : {}),
  });
  const logTransition = createTransitionLogger(logger);
  const tokenSource = new TokenSource(config.upstox.accessToken, config.upstox.tokenUrl, config.upstox.httpTimeoutMs);
  root = createActor(
    pipelineMachine.provide({
      actors: {
        connection: provideConnection({ config: config.upstox, tokenSource, sink, stats, logger: logger.child({ actor: 'connection' }) }),
        writer: storage.writer,
        drainer: storage.drainer,
        notifier: provideNotifier({
          url: config.notify.url,
          timeoutMs: config.notify.timeoutMs,
          logger: logger.child({ actor: 'notifier' }),
        }),
      },
    }),
    {
      input: {
        connection: connectionInput(config.upstox),
        writer: storage.writerInput,
        drainer: storage.drainerInput,
        notifier: {
          enabled: config.notify.url !== undefined,
          intervalMs: config.notify.intervalS * 1000,
          retryMs: config.notify.retryS * 1000,
        },
      },
      systemId: 'pipeline',
      inspect: (ev) => {
        logTransition(ev);
        hub.inspect(ev);
      },
    },
  );
  root.start();
  logger.info('writer, drainer and notifier started');

  const state = () => buildStateDocument({ root: root, stats, spool: storage.spool, writePath: storage.writePath, startedAt, fanout });
  const metrics = createMetrics({
    stats,
    actorStates: () => Object.fromEntries(Object.entries(state().actors).map(([k, v]) => [k, v.value])),
    spoolPendingPoints: () => storage.spool.pendingPoints(),
    wsClients: () => fanout.clientCount,
  });
  metricsHook = metrics.observeWriteLatency;

  const changeSubscription = (req: SubscriptionChangeRequest): SubscriptionChangeResult => {
    const plan = planSubscriptionChange(subscription(), req, config.upstox.limits, config.upstox.feedMode);
    if (plan.accepted.length === 0 && plan.removed.length === 0 && plan.refused.length > 0) {
      throw new SubscriptionError(
        `nothing could be applied: ${plan.refused
          .map((r) => `${r.key}: ${r.reason}`)
          .slice(0, 5)
          .join('; ')}`,
      );
    }
    const conn = actorRef('connection');
    if (!conn) throw new SubscriptionError('the feed is not running');
    conn.send({ type: 'SET_SUBSCRIPTION', subscription: plan.subscription });
    logger.info({ accepted: plan.accepted.length, removed: plan.removed.length, refused: plan.refused.length }, 'subscription changed');
    return plan;
  };

  let app: FastifyInstance;
  try {
    app = await buildServer({
      logger,
      http: config.http,
      stats,
      state,
      readiness: () => buildReadiness(state()),
      fanout,
      subscriptions: { current: subscription, change: changeSubscription },
      metrics,
      inspection: hub,
    });
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    root.stop();
    await storage.close(0);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const url = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}`;
  logger.info({ url }, `server listening on ${url}`);

  root.send({ type: 'START_FEED' });
  logger.info('feed started');

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      root.send({ type: 'STOP_FEED' });
      logger.info('feed stopped');
      await app.close();
      logger.info('server closed');
      await storage.close(STORAGE_SHUTDOWN_MS);
      logger.info({ pendingPoints: storage.spool.pendingPoints() }, 'storage flushed and spool closed');
      root.stop();
      hub.stop();
    })());

  return { url, stats, root, state, stop };
}
