/**
 * Seeded randomness for the simulator. Every instrument draws from its own generator, seeded
 * from (simulator seed, key), so a key's price path depends only on the seed and how many
 * updates it has had, never on which other keys were subscribed or in what order.
 */

export type Rand = () => number;

/** mulberry32: tiny, fast, good enough statistically for price noise; returns [0, 1). */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, mixed with a seed: stable across runs and platforms. */
export function hashString(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A standard normal draw (Box-Muller; one of the pair is discarded for simplicity). */
export function gaussian(rand: Rand): number {
  let u = rand();
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** An integer in [min, max]. */
export function randInt(rand: Rand, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}
