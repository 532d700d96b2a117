/**
 * Runs the Upstox V3 simulator on its own, for trying a client by hand:
 *   node dist/src/sim/cli.js --port 4000 --rate 200
 * prints the URLs and the token to configure the service with; Ctrl-C or SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../logger.js';
import { startSimulator, type SimulatorOptions } from './index.js';

const USAGE = `usage: node dist/src/sim/cli.js [options]
  --host HOST          listen address (default 127.0.0.1)
  --port N             port (default 0: a free one)
  --rate N             live updates per second (default 50); each key updates at most
                       once per frame, so at most keys x 1000/interval per second
  --interval MS        ms between live frames (default 100)
  --ping MS            ms between websocket pings (default 5000)
  --seed N             price path seed (default 1)
  --token TOKEN        the valid access token (default: random)
  --instruments LIST   comma-separated instrument keys the instruments URL lists
  --time-scale N       market clock speed (simulated ms per real ms, default 1)
  --start-at ISO       market clock start (ISO 8601 date-time, default now)
  --instrument-file-size N  pad the instrument file to about N instruments
  --log-level LEVEL    pino level (default info)`;

function num(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got ${JSON.stringify(value)}\n${USAGE}`);
  return n;
}

function parse(argv: string[]): { opts: SimulatorOptions; logLevel: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string' },
      interval: { type: 'string' },
      ping: { type: 'string' },
      seed: { type: 'string' },
      token: { type: 'string' },
      instruments: { type: 'string' },
      'time-scale': { type: 'string' },
      'start-at': { type: 'string' },
      'instrument-file-size': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const opts: SimulatorOptions = {};
  if (values.host !== undefined) opts.host = values.host;
  if (values.port !== undefined) opts.port = num('port', values.port)!;
  if (values.rate !== undefined) opts.updatesPerSecond = num('rate', values.rate)!;
  if (values.interval !== undefined) opts.frameIntervalMs = num('interval', values.interval)!;
  if (values.ping !== undefined) opts.pingIntervalMs = num('ping', values.ping)!;
  if (values.seed !== undefined) opts.seed = num('seed', values.seed)!;
  if (values.token !== undefined) opts.token = values.token;
  if (values['time-scale'] !== undefined) opts.timeScale = num('time-scale', values['time-scale']);
  if (values['instrument-file-size'] !== undefined) opts.instrumentFileSize = num('instrument-file-size', values['instrument-file-size']);
  if (values['start-at'] !== undefined) {
    opts.startAt = Date.parse(values['start-at']);
    if (Number.isNaN(opts.startAt))
      throw new Error(
        `--start-at must be an ISO 8601 date-time such as 2026-11-27T09:15:00+05:30, got ${JSON.stringify(values['start-at'])}\n${USAGE}`,
      );
  }
  if (values.instruments !== undefined)
    opts.instruments = values.instruments
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean);
  return { opts, logLevel: values['log-level'] ?? 'info' };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const logger = createLogger(parsed.logLevel);
  const sim = await startSimulator({ ...parsed.opts, logger });
  console.log(
    [
      'Upstox V3 simulator running',
      `  UPSTOX_API_URL=${sim.apiUrl}`,
      `  UPSTOX_TOKEN_URL=${sim.tokenUrl}`,
      `  INSTRUMENTS_URL=${sim.instrumentsUrl}`,
      `  INSTRUMENT_MASTER_URL=${sim.instrumentFileUrl}`,
      `  UPSTOX_ACCESS_TOKEN=${sim.token}`,
      'Ctrl-C stops it.',
    ].join('\n'),
  );
  const stop = (signal: string): void => {
    logger.info({ signal }, 'stopping the simulator');
    sim.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'simulator did not close cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`simulator failed to start: ${(err as Error).message}`);
  process.exit(1);
});
