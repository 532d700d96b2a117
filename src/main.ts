/**
 * `npm start`: configuration from the environment (and .env), then the service, until SIGTERM or
 * SIGINT, which shut it down gracefully (feed stopped, buffered points written or spooled, spool
 * closed) and exit 0 within 10 s.
 */
import { loadConfig, withEnvFile, type Config } from './config.js';
import { ConfigError, describeError } from './errors.js';
import { createLogger } from './logger.js';
import { configSecrets, secretScrubber } from './redact.js';
import { startService } from './service.js';

/** The graceful shutdown must finish within this; past it we exit anyway (non-zero). */
const SHUTDOWN_DEADLINE_MS = 10_000;

function readConfig(): Config {
  try {
    return loadConfig(withEnvFile(process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      // Plain text, not JSON: this is read by a person at a terminal, before any logger exists.
      process.stderr.write(`tickpipe: ${err.message}\nSee README.md, section Configuration.\n`);
      process.exit(2);
    }
    throw err;
  }
}

const config = readConfig();
const logger = createLogger(config.logLevel, undefined, secretScrubber(configSecrets(config)));
let stopping = false;
// The storage worker died after the start: nothing can be spooled any more. Shut down like on a
// signal (the feed stops, clients are told) and exit non-zero; the supervisor restarts us and the
// spool, which is durable, is replayed.
const onStorageFailure = () => void shutdown('storage worker failure', 1);
const started = startService(config, { logger, onStorageFailure });
await started.catch((err: unknown) => {
  // A name in INSTRUMENTS that the instrument master does not resolve: a configuration error too.
  if (err instanceof ConfigError) {
    logger.fatal({ code: err.code, problems: err.problems }, 'invalid configuration');
    logger.flush();
    process.stderr.write(`tickpipe: ${err.message}\nSee README.md, section Configuration.\n`);
    process.exit(2);
  }
  logger.fatal({ err }, `tickpipe could not start: ${describeError(err)}`);
  process.exit(1);
});

async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal during shutdown: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, `${signal} received: shutting down`);
  const deadline = setTimeout(() => {
    logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms: exiting`);
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  try {
    await (await started).stop();
    logger.info('shutdown complete');
    logger.flush();
    process.exit(exitCode);
  } catch (err) {
    logger.error({ err }, `shutdown failed: ${describeError(err)}`);
    process.exit(1);
  }
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('unhandledRejection', (err) => {
  // A bug: say so loudly, then shut down cleanly so nothing buffered is lost.
  logger.fatal({ err }, `unhandled rejection: ${describeError(err)}`);
  void shutdown('unhandledRejection');
});
