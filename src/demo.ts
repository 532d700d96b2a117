/**
 * `npm run demo`: the built-in Upstox simulator and the whole service, no credentials and no
 * InfluxDB needed (points wait in the spool unless INFLUX_URL is set). Simulated points carry the
 * tag `source=simulator` so they never mix with real data. Prints the local URLs and a one-line
 * summary every second. Press `g` to interrupt the feed for DEMO_GAP_S seconds (default 20): the
 * simulator drops the socket and refuses new ones meanwhile, its market moving on, so a gap is
 * recorded and, once its last minute has closed, its 1-minute candles are backfilled.
 */
import { createInterface } from 'node:readline';
import { loadConfig, withEnvFile } from './config.js';
import { ConfigError, describeError } from './errors.js';
import { createLogger } from './logger.js';
import { prettyDestination } from './logging/pretty-log.js';
import { stateText } from './logging/transition-logger.js';
import { type Service, startService } from './service.js';
import { DEFAULT_INSTRUMENTS, startSimulator } from './sim/index.js';

const env = withEnvFile(process.env);
const logger = createLogger(env['LOG_LEVEL'] ?? 'info', prettyDestination());
const sim = await startSimulator({
  updatesPerSecond: Number(env['DEMO_RATE'] ?? 200),
  frameIntervalMs: 25,
  pingIntervalMs: 5000,
  instruments: [...DEFAULT_INSTRUMENTS],
  logger: logger.child({ component: 'simulator' }),
  // DEMO_TIME_SCALE=30: a market minute every two seconds, so a gap's backfill shows quickly.
  ...(env['DEMO_TIME_SCALE'] ? { timeScale: Number(env['DEMO_TIME_SCALE']) } : {}),
});

let config;
try {
  config = loadConfig({
    ...env,
    // The demo never talks to the real Upstox, whatever .env says.
    UPSTOX_API_URL: sim.apiUrl,
    UPSTOX_TOKEN_URL: sim.tokenUrl,
    UPSTOX_ACCESS_TOKEN: '',
    ACCESS_TOKEN: '',
    INSTRUMENTS: '',
    INSTRUMENTS_LIST: '',
    INSTRUMENTS_URL: sim.instrumentsUrl,
    // The simulator's instrument file: symbols on the demo's points, and OPTION_CHAINS (e.g. NIFTY:5) works.
    INSTRUMENT_MASTER_URL: sim.instrumentFileUrl,
    SPOOL_PATH: env['DEMO_SPOOL_PATH'] ?? './data/demo-spool.db',
    INFLUX_EXTRA_TAGS: env['INFLUX_EXTRA_TAGS'] ? `${env['INFLUX_EXTRA_TAGS']},source=simulator` : 'source=simulator',
  });
} catch (err) {
  process.stderr.write(`tickpipe demo: ${err instanceof ConfigError ? err.message : describeError(err)}\n`);
  await sim.close();
  process.exit(2);
}

let service: Service;
try {
  service = await startService(config, { logger });
} catch (err) {
  logger.fatal({ err }, `demo could not start: ${describeError(err)}`);
  await sim.close();
  process.exit(1);
}

const ws = service.url.replace(/^http/, 'ws');
const gapSeconds = Number(env['DEMO_GAP_S'] ?? 20);
process.stdout.write(
  [
    '',
    'tickpipe demo: the Upstox simulator feeds the whole pipeline.',
    `  state      ${service.url}/state`,
    `  ticks      ${ws}/ticks?keys=*`,
    `  inspector  ${service.url}/inspector`,
    `  metrics    ${service.url}/metrics`,
    `  gaps       ${service.url}/gaps`,
    `  InfluxDB   ${config.influx.url ?? 'not configured: points wait in the spool (set INFLUX_URL to deliver them)'}`,
    '',
    process.stdin.isTTY ? `Press g to interrupt the feed for ${gapSeconds} s (a gap, then its backfill), q to quit.` : '',
    '',
  ].join('\n') + '\n',
);

const summary = setInterval(() => {
  const s = service.state();
  const a = s.actors;
  process.stdout.write(
    `[demo] connection=${stateText(a.connection.value)} writer=${stateText(a.writer.value)} drainer=${stateText(a.drainer.value)} notifier=${stateText(a.notifier.value)}` +
      ` frames=${s.stats['framesReceived']} updates=${s.stats['updatesReceived']} written=${s.stats['pointsWritten']} spooled=${s.stats['pointsSpooled']}` +
      ` pending=${s.spool.pendingPoints} ticksClients=${s.ticks.clients}` +
      ` backfill=${stateText(a.backfill.value)} gaps=${gapSummary(a.backfill.context['totals'])}\n`,
  );
}, 1000);

/** `recorded/done/failed` from the backfill actor's totals. */
function gapSummary(totals: unknown): string {
  const t = (totals ?? {}) as { gaps?: number; done?: number; failed?: number };
  return `${t.gaps ?? 0} recorded/${t.done ?? 0} backfilled/${t.failed ?? 0} failed`;
}

/** The `g` key: the feed goes away for `gapSeconds`, the simulator's market does not. */
let interrupted: NodeJS.Timeout | undefined;
function interruptFeed(): void {
  if (interrupted) return;
  logger.warn(`demo: interrupting the feed for ${gapSeconds} s (the simulator drops the socket and refuses new ones)`);
  sim.refuseConnections(true);
  sim.dropConnections();
  interrupted = setTimeout(() => {
    interrupted = undefined;
    sim.refuseConnections(false);
    logger.warn('demo: the simulator accepts connections again; the gap is backfilled once its last minute has closed');
  }, gapSeconds * 1000);
}
if (process.stdin.isTTY) {
  process.stdin.setRawMode(true);
  process.stdin.on('data', (key: Buffer) => {
    const k = key.toString();
    if (k === 'g') interruptFeed();
    // Raw mode swallows Ctrl-C's SIGINT: q and Ctrl-C stop the demo.
    else if (k === 'q' || k === '\u0003') void shutdown('q');
  });
} else {
  // Piped input (a script): a line `g` interrupts the feed.
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() === 'g') interruptFeed();
  });
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) process.exit(1);
  stopping = true;
  clearInterval(summary);
  clearTimeout(interrupted);
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  process.stdin.pause();
  logger.info(`${signal}: stopping the demo`);
  const deadline = setTimeout(() => process.exit(1), 10_000);
  deadline.unref();
  await service.stop();
  await sim.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
