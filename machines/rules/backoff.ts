/**
 * Retry delays, one home for both strategies. `random` is a number in [0, 1) handed in by the
 * caller (the machines get theirs from an injected function), so delays are reproducible.
 */

/** The capped exponential ceiling: min(max, base·2^attempt). */
function ceiling(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}

/**
 * Full jitter: uniform in [0, ceiling) (AWS architecture blog's recommendation). Used to reconnect
 * to Upstox, where spreading many clients matters more than a minimum wait.
 */
export function fullJitterDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  return Math.floor(random * ceiling(attempt, baseMs, maxMs));
}

/**
 * Equal jitter: half the ceiling plus a random half. Used to probe InfluxDB: never a hot loop,
 * even with an unlucky draw.
 */
export function equalJitterDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  const c = ceiling(attempt, baseMs, maxMs);
  return Math.floor(c / 2 + (random * c) / 2);
}
