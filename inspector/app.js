// The inspector page: reads WS /inspect (the @statelyai/inspect event format: @xstate.actor,
// @xstate.snapshot, @xstate.event) and keeps one card per state machine, the four pipeline
// actors first. Reconnects by itself with backoff; the server replays the current actors on
// every connect, so the page is whole again as soon as the service is back.

import { ActorCard } from './card.js';
import { healthOf, stateText, worst } from './health.js';

// leadership exists only with HA_GROUP: first when it does (it decides whether the rest ingest).
const PRIMARY = ['leadership', 'connection', 'writer', 'drainer', 'notifier'];
const grid = document.getElementById('actors');
const others = document.getElementById('others');
const link = document.getElementById('link');
const summary = document.getElementById('summary');

const logs = new Map(); // actor name → log entries, kept across reconnects
const cards = new Map(); // actor name → ActorCard
let sessions = new Map(); // sessionId → { name, parentId, machine }

function cardFor(name) {
  let card = cards.get(name);
  if (card) return card;
  if (!logs.has(name)) logs.set(name, []);
  card = new ActorCard(name, logs.get(name));
  cards.set(name, card);
  const rank = PRIMARY.indexOf(name);
  if (rank < 0) {
    card.element.classList.add('compact');
    others.append(card.element);
  } else {
    const next = [...grid.children].find((c) => PRIMARY.indexOf(c.dataset.actor) > rank);
    grid.insertBefore(card.element, next ?? null);
  }
  return card;
}

function isMachine(definition) {
  try {
    return Boolean(JSON.parse(definition || '{}').states);
  } catch {
    return false;
  }
}

function parentCard(sessionId) {
  const parent = sessions.get(sessionId);
  return parent && parent.machine ? cards.get(parent.name) : undefined;
}

function eventName(type) {
  if (type.startsWith('xstate.done.actor.')) return `${type.slice(18)} done`;
  if (type.startsWith('xstate.error.actor.')) return `${type.slice(19)} failed`;
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return /^\d+$/.test(after[1]) ? `after ${after[1]}ms` : `after ${after[1]}`;
  return type;
}

function describeEvent(event) {
  if (event.type === 'xstate.init') return 'started';
  const { type, actorId: _actorId, ...rest } = event;
  const name = eventName(type);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return fields ? `${name} ${fields.length > 120 ? `${fields.slice(0, 120)}…` : fields}` : name;
}

// Events already logged, by service time and id: after a reconnect to the same service the
// replayed history must not be logged twice.
const logged = new Set();
function firstTime(ev) {
  const key = `${ev.createdAt}/${ev.id}/${ev.sessionId}`;
  if (logged.has(key)) return false;
  logged.add(key);
  if (logged.size > 5000) logged.delete(logged.values().next().value);
  return true;
}

const timeOf = (ev) => Number(ev.createdAt) || Date.now();

function onActor(ev) {
  const machine = isMachine(ev.definition);
  const name = ev.systemId || ev.name;
  // `prev` is the state as of the last snapshot *event*; a registration carries the current
  // snapshot, so transitions are only ever logged between two snapshot events.
  sessions.set(ev.sessionId, { name, parentId: ev.parentId, machine, prev: undefined });
  if (machine) {
    const card = cardFor(name);
    card.element.classList.remove('stale');
    card.setDefinition(ev.definition);
    card.show(ev.snapshot || {}, null);
  } else if (firstTime(ev)) {
    parentCard(ev.parentId)?.addLog('actor', `▶ ${name} started`, timeOf(ev));
  }
}

function onSnapshot(ev) {
  const s = sessions.get(ev.sessionId);
  if (!s) return;
  const snapshot = ev.snapshot || {};
  const status = snapshot.status;
  const at = timeOf(ev);
  if (s.machine) {
    const card = cards.get(s.name);
    const to = stateText(snapshot.value) || status || '';
    const from = s.prev;
    s.prev = to;
    if (from !== undefined && from !== to && firstTime(ev)) {
      const cause = ev.event && typeof ev.event.type === 'string' ? ` on ${eventName(ev.event.type)}` : '';
      const reason = snapshot.context && typeof snapshot.context.reason === 'string' ? ` (${snapshot.context.reason})` : '';
      card?.addLog('transition', `${from} → ${to}${cause}${reason}`, at);
    }
    card?.show(snapshot, from !== undefined && from !== to ? at : card.stateSince);
  } else if (status === 'error' && firstTime(ev)) {
    const err = snapshot.error;
    parentCard(s.parentId)?.addLog('error', `✗ ${s.name} failed: ${err && err.message ? err.message : JSON.stringify(err)}`, at);
  }
  if (status && status !== 'active') sessions.delete(ev.sessionId);
}

function onEvent(ev) {
  const s = sessions.get(ev.sessionId);
  if (!s || !s.machine || !ev.event || !firstTime(ev)) return;
  const from = ev.sourceId ? sessions.get(ev.sourceId) : undefined;
  const text = `← ${describeEvent(ev.event)}${from && from.name !== s.name ? ` from ${from.name}` : ''}`;
  cards.get(s.name)?.addLog('event', text, timeOf(ev));
}

function handle(ev) {
  if (!ev || typeof ev.type !== 'string') return;
  if (ev.type === '@xstate.actor') onActor(ev);
  else if (ev.type === '@xstate.snapshot') onSnapshot(ev);
  else if (ev.type === '@xstate.event') onEvent(ev);
  renderSummary();
}

function renderSummary() {
  const chips = [];
  const levels = [];
  for (const name of PRIMARY) {
    const card = cards.get(name);
    if (name === 'leadership' && !card) continue;
    const h = card ? healthOf(name, card.snapshot) : { level: 'warn', why: 'not seen yet' };
    const stale = !card || card.element.classList.contains('stale');
    levels.push(h.level);
    const chip = document.createElement('a');
    chip.className = `chip level-${stale ? 'stale' : h.level}`;
    chip.href = `#${name}`;
    chip.title = h.why;
    chip.textContent = `${name}: ${card?.lastState ?? '…'}`;
    chip.onclick = (e) => {
      e.preventDefault();
      card?.element.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    };
    chips.push(chip);
  }
  summary.replaceChildren(...chips);
  const bad = levels.filter((l) => l === 'bad').length;
  const w = worst(levels);
  document.body.dataset.health = w;
  document.title = bad ? `(${bad} unhealthy) tickpipe inspector` : 'tickpipe inspector';
}

// ---- the socket -------------------------------------------------------------------------

let attempt = 0;
let countdown;

function inspectUrl() {
  const url = new URL('/inspect', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = new URLSearchParams(location.search).get('token');
  if (token) url.searchParams.set('token', token);
  return url.href;
}

function setLink(status, text) {
  link.dataset.status = status;
  link.textContent = text;
}

function connect() {
  setLink('connecting', attempt ? `disconnected, retrying (attempt ${attempt + 1})…` : 'connecting…');
  const ws = new WebSocket(inspectUrl());
  let opened = false;
  ws.onopen = () => {
    opened = true;
    attempt = 0;
    sessions = new Map();
    for (const card of cards.values()) card.element.classList.add('stale');
    setLink('connected', 'live');
  };
  ws.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    handle(ev);
  };
  ws.onclose = () => {
    if (opened) for (const card of cards.values()) card.addLog('info', '— connection to the service lost —');
    for (const card of cards.values()) card.element.classList.add('stale');
    renderSummary();
    retry();
  };
}

function retry() {
  const delay = Math.min(5000, 500 * 2 ** attempt++) * (0.8 + Math.random() * 0.4);
  const until = Date.now() + delay;
  const hint = new URLSearchParams(location.search).has('token') ? '' : ' (if API_TOKEN is set, open this page with ?token=…)';
  clearInterval(countdown);
  const tick = () =>
    setLink('disconnected', `disconnected, retrying in ${Math.max(0, Math.ceil((until - Date.now()) / 1000))}s${attempt > 2 ? hint : ''}`);
  tick();
  countdown = setInterval(tick, 250);
  setTimeout(() => {
    clearInterval(countdown);
    connect();
  }, delay);
}

setInterval(() => {
  const now = Date.now();
  for (const card of cards.values()) card.render(now);
}, 1000);

renderSummary();
connect();
