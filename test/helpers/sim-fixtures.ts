/** Instrument keys and simulator settings shared by the simulator's tests. */
import type { SimulatorOptions } from '../../src/sim/index.js';

export const EQ = 'NSE_EQ|INE002A01018';
export const EQ2 = 'NSE_EQ|INE467B01029';
export const INDEX = 'NSE_INDEX|Nifty Bank';
export const OPTION = 'NSE_FO|54452';
export const FUTURE = 'MCX_FO|457534';

/** Short intervals so that tests wait milliseconds, not seconds. */
export const FAST: SimulatorOptions = { updatesPerSecond: 2000, frameIntervalMs: 10, pingIntervalMs: 20 };
