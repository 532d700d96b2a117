// Health of an actor at a glance, from its name, state value and context. Pure, so it is
// tested from node as well as used by the page.
//   bad  (red):   the actor is not doing its job (writer influxDown, connection not streaming,
//                 notifier retrying, any actor stopped or errored)
//   warn (amber): a transitional state (connecting, authorizing, probing, paused draining) or a
//                 last error worth a look
//   ok   (green): working
//   off  (grey):  switched off by configuration (notifier without NOTIFY_URL)

/** Every state path of a value: {influxDown: 'probing'} → ['influxDown', 'influxDown.probing']. */
export function activePaths(value, prefix = '') {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [prefix + value];
  const out = [];
  for (const [k, v] of Object.entries(value)) {
    out.push(prefix + k);
    out.push(...activePaths(v, `${prefix}${k}.`));
  }
  return out;
}

/** `influxDown.probing`; parallel regions joined with ` | `. */
export function stateText(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  const parts = Object.entries(value).map(([k, v]) => {
    const inner = stateText(v);
    if (!inner) return k;
    return v && typeof v === 'object' && Object.keys(v).length > 1 ? `${k}.(${inner})` : `${k}.${inner}`;
  });
  return parts.join(' | ');
}

const BAD_WORDS = /(^|\.)(\w*(retry|retrying|backoff|fail|failed|failure|error|down|stale|rejected|unauthori[sz]ed|dead|lost))(\.|$)/i;
const WARN_WORDS =
  /(^|\.)(\w*(connect|connecting|authoriz|subscrib|fetch|starting|init|probing|paused|waiting|reconnect|stopping|resubscrib|draining))/i;

export function healthOf(name, snapshot) {
  if (!snapshot) return { level: 'warn', why: 'no snapshot yet' };
  const { status, value, context } = snapshot;
  if (status === 'error') return { level: 'bad', why: 'the actor failed' };
  if (status === 'stopped' || status === 'done') return { level: 'bad', why: `the actor is ${status}` };
  const paths = activePaths(value);
  const text = paths.join(' ');
  const has = (s) => paths.some((p) => p === s || p.endsWith(`.${s}`) || p.startsWith(`${s}.`));
  switch (name) {
    case 'writer':
      if (has('influxDown')) return { level: 'bad', why: 'InfluxDB is down: points go to the spool' };
      if (has('influxUp')) return { level: 'ok', why: 'writing to InfluxDB' };
      break;
    case 'connection':
      if (has('streaming')) return { level: 'ok', why: 'ticks are flowing' };
      if (paths.some((p) => BAD_WORDS.test(p))) return { level: 'bad', why: 'the feed is not streaming' };
      return { level: 'warn', why: 'getting the feed ready' };
    case 'notifier':
      if (has('disabled')) return { level: 'off', why: 'NOTIFY_URL is not set' };
      if (has('retrying')) return { level: 'bad', why: 'notifications are failing' };
      if (context && context.lastError) return { level: 'warn', why: 'the last notification was rejected' };
      return { level: 'ok', why: 'notifying' };
    case 'leadership': {
      const self = context && context.instance;
      const holder = context && context.holder;
      if (has('leader')) return { level: 'ok', why: `${self} leads its HA group` };
      if (has('fenced')) return { level: 'bad', why: `${self} could not renew its lease and stepped down` };
      if (has('standby')) return { level: 'ok', why: `standby: ${holder || 'another instance'} leads` };
      return { level: 'warn', why: 'electing a leader' };
    }
    case 'drainer':
      if (has('paused')) return { level: 'warn', why: 'waiting for InfluxDB to replay the spool' };
      return { level: 'ok', why: has('draining') ? 'replaying the spool' : 'nothing to replay' };
  }
  if (paths.some((p) => BAD_WORDS.test(p))) return { level: 'bad', why: text };
  if (paths.some((p) => WARN_WORDS.test(p))) return { level: 'warn', why: text };
  return { level: 'ok', why: text };
}

const RANK = { bad: 3, warn: 2, ok: 1, off: 0 };
export function worst(levels) {
  let w = 'off';
  for (const l of levels) if (RANK[l] > RANK[w]) w = l;
  return w;
}
