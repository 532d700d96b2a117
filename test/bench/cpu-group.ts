/**
 * A CPU cgroup for the e2e benchmark's VictoriaMetrics, with the weight docker-compose.yml gives
 * InfluxDB (`cpu_shares`), so the benchmark measures the deployment users run. Docker's
 * `cpu_shares` is cgroup v1's `cpu.shares` (1024 for every other container); on cgroup v2 it
 * becomes `cpu.weight` by Docker's formula. A weight only matters while the cores are contended:
 * VictoriaMetrics still takes every idle cycle. Needs root and a writable cgroup hierarchy;
 * where there is none the benchmark says so and runs without it.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuGroup {
  /** What the benchmark's header says: the weight and where, or why not. */
  readonly description: string;
  /** Moves a process (every thread of it) into the group; a no-op without one. */
  add(pid: number | undefined): void;
  /** Removes the group (its processes must have exited: they go back to the root group). */
  close(): void;
}

/** Docker's conversion from cpu_shares (2..262144) to cgroup v2's cpu.weight (1..10000). */
const weightOf = (shares: number) => 1 + Math.floor(((shares - 2) * 9999) / 262142);

export function openCpuGroup(shares: number): CpuGroup {
  const none = (why: string): CpuGroup => ({ description: why, add: () => {}, close: () => {} });
  if (shares <= 0) return none('VictoriaMetrics at the default CPU weight (E2E_VM_CPU_SHARES=0)');
  const name = `tickpipe-e2e-vm-${process.pid}`;
  const candidates = [
    { root: '/sys/fs/cgroup/cpu', file: 'cpu.shares', value: shares, unit: 'cpu.shares' },
    { root: '/sys/fs/cgroup', file: 'cpu.weight', value: weightOf(shares), unit: 'cpu.weight' },
  ];
  const errors: string[] = [];
  for (const c of candidates) {
    if (!existsSync(join(c.root, 'cgroup.procs'))) continue;
    const dir = join(c.root, name);
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, c.file), String(c.value));
    } catch (err) {
      errors.push(`${c.unit}: ${(err as Error).message}`);
      try {
        rmdirSync(dir);
      } catch {
        // never created
      }
      continue;
    }
    return {
      description: `VictoriaMetrics in a cgroup with ${c.unit} ${c.value} (docker-compose's cpu_shares: ${shares} for InfluxDB; others 1024)`,
      add(pid) {
        if (pid === undefined) return;
        const procs = join(dir, 'cgroup.procs');
        if (!readFileSync(procs, 'utf8').split('\n').includes(String(pid))) writeFileSync(procs, String(pid));
      },
      close() {
        try {
          rmdirSync(dir);
        } catch (err) {
          console.warn(`could not remove the cgroup ${dir}: ${(err as Error).message}`);
        }
      },
    };
  }
  return none(
    `VictoriaMetrics at the default CPU weight: no writable cgroup for cpu_shares ${shares}${errors.length ? ` (${errors.join('; ')})` : ' (no cgroup hierarchy found)'}`,
  );
}
