// The "recent gaps" panel: GET /gaps (the gap ledger) every few seconds, newest first. Shows
// where the feed had holes, why, and whether the 1-minute candles were backfilled. Plain DOM,
// same origin (the page's Content-Security-Policy allows nothing else).

const POLL_MS = 3000;
const SHOWN = 8;

const fmtTime = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const fmtDate = (ms) => new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' });

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function cell(text, className, title) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  if (title) td.title = title;
  return td;
}

/** One table row per gap; `backfill` as a coloured badge. */
export function gapRow(g) {
  const tr = document.createElement('tr');
  tr.dataset.backfill = g.backfill;
  tr.append(
    cell(
      `${fmtDate(g.from)} ${fmtTime(g.from)} – ${fmtTime(g.to)}`,
      'when',
      `${new Date(g.from).toISOString()} – ${new Date(g.to).toISOString()}`,
    ),
    cell(duration(g.to - g.from), 'dur'),
    cell(g.reason, 'reason'),
    cell(`${g.keys.length} key${g.keys.length === 1 ? '' : 's'}`, 'keys', g.keys.join('\n')),
    cell(g.backfill, `badge backfill-${g.backfill}`),
    cell(g.detail, 'detail', g.detail),
  );
  return tr;
}

export function startGapsPanel(root) {
  const body = root.querySelector('tbody');
  const empty = root.querySelector('.empty');
  const status = root.querySelector('.gaps-status');
  const token = new URLSearchParams(location.search).get('token');
  async function poll() {
    try {
      const res = await fetch('/gaps?limit=' + SHOWN, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      if (!res.ok) throw new Error(`GET /gaps answered ${res.status}`);
      const { gaps } = await res.json();
      body.replaceChildren(...gaps.map(gapRow));
      empty.hidden = gaps.length > 0;
      status.textContent = '';
    } catch (err) {
      status.textContent = `(${err.message})`;
    }
  }
  void poll();
  setInterval(poll, POLL_MS);
}
