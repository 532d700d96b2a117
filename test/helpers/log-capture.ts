/** A logger whose JSON lines are kept in memory, so a test can assert what was logged and at what level. */
import { Writable } from 'node:stream';
import { type Logger, createLogger } from '../../src/logger.js';

export interface LoggedLine {
  level: number;
  msg: string;
  code?: string;
  [field: string]: unknown;
}

export function capturingLogger(level = 'info'): { logger: Logger; logs: LoggedLine[] } {
  const logs: LoggedLine[] = [];
  const logger = createLogger(
    level,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as LoggedLine);
        cb();
      },
    }),
  );
  return { logger, logs };
}
