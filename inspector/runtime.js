// The event loop beside the actors: GET /state's `runtime` (the delay a tick waits on the loop
// that decodes frames and serves /ticks, and how busy that loop is), polled every 2 s. A service
// without it (or not reachable) leaves the badge hidden; the actors do not depend on it.
// Then the tick path: a frame's arrival to its ticks written to the /ticks clients, p99 (none
// while no frame arrives). Beside it, the storage worker's thread (`storageWorker`: the spool and
// InfluxDB writes run there): how busy it is and the frames waiting for it; red when it failed.

const POLL_MS = 2000;
// Above these a /ticks client feels it (the targets are a 5 ms p99 tick latency, 30% busy).
const WARN_DELAY_MS = 5;
const BAD_DELAY_MS = 50;

const badge = document.getElementById('runtime');

function workerText(worker) {
  if (!worker) return '';
  if (worker.state === 'failed') return ' · storage worker failed';
  return ` · storage worker ${Math.round(worker.eventLoopUtilisation * 100)}% busy, ${worker.queueFrames} frames queued`;
}

// The service's share of a tick's latency: a frame's arrival to its ticks on the /ticks sockets.
function tickPathText(runtime) {
  if (typeof runtime.frameHandlingP99Ms !== 'number') return '';
  return ` · frame to /ticks p99 ${runtime.frameHandlingP99Ms.toFixed(1)} ms`;
}

function show(runtime, worker) {
  const p99 = runtime.eventLoopDelayP99Ms;
  const busy = Math.round(runtime.eventLoopUtilisation * 100);
  const failed = worker?.state === 'failed';
  badge.dataset.level = failed || p99 >= BAD_DELAY_MS ? 'bad' : p99 >= WARN_DELAY_MS ? 'warn' : 'ok';
  badge.dataset.delayP99Ms = String(p99);
  badge.textContent = `event loop: delay p99 ${p99.toFixed(1)} ms · max ${runtime.eventLoopDelayMaxMs.toFixed(0)} ms · ${busy}% busy${tickPathText(runtime)}${workerText(worker)}`;
  const feed =
    typeof runtime.feedDelayP99Ms === 'number' ? `; Upstox's frame time to its arrival p99 ${runtime.feedDelayP99Ms.toFixed(1)} ms` : '';
  badge.title = `over the last ${runtime.windowS} s (median delay ${runtime.eventLoopDelayP50Ms.toFixed(1)} ms${feed})`;
  badge.hidden = false;
}

async function poll() {
  try {
    const res = await fetch('/state', { cache: 'no-store' });
    const state = res.ok ? await res.json() : undefined;
    const runtime = state?.runtime;
    if (runtime && typeof runtime.eventLoopDelayP99Ms === 'number') show(runtime, state.storageWorker);
    else badge.hidden = true;
  } catch {
    badge.hidden = true; // the service is away: the link status already says so
  }
}

poll();
setInterval(poll, POLL_MS);
