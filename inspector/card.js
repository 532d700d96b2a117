// One actor's card: health-coloured header (name, state, reason, time in state), its
// statechart, the context that matters, and a scrolling log of events and transitions.

import { buildChart } from './chart.js';
import { healthOf, stateText } from './health.js';

const LOG_LINES = 150;
const SHOWN_ELSEWHERE = new Set(['reason', 'lastError']);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function age(ms) {
  if (!(ms >= 0)) return '';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function clock(t) {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

const TIME_KEY = /(At|Ts|Since|Time|Until)$/;

/** A context value in one short line: timestamps as ages, lists by count, objects as JSON. */
export function brief(key, v, now) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number' && TIME_KEY.test(key) && v > 1e12) return `${age(now - v)} ago`;
  if (typeof v === 'number' && /Ms$/.test(key)) return v < 1000 ? `${v} ms` : age(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const more = typeof v.at(-1) === 'string' && /^… \d+ more \((\d+) in all\)$/.exec(v.at(-1));
    const n = more ? Number(more[1]) : v.length;
    const shown = (more ? v.slice(0, -1) : v).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
    return `[${n}] ${shown.join(', ')}${more ? ', …' : ''}`;
  }
  const s = JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

function errorText(e) {
  if (!e) return '';
  if (typeof e === 'string') return e;
  const code = e.code ? `${e.code}: ` : '';
  return `${code}${e.message ?? JSON.stringify(e)}`;
}

export class ActorCard {
  constructor(name, logs) {
    this.name = name;
    this.log = logs; // survives reconnects: kept by the app per actor name
    this.snapshot = undefined;
    this.stateSince = null;
    this.lastState = undefined;
    this.element = el('section', 'card level-warn');
    this.element.dataset.actor = name;
    const head = el('header', 'card-head');
    this.dot = el('span', 'dot');
    this.title = el('h2', 'actor-name', name);
    this.state = el('div', 'state-value', '…');
    this.state.dataset.role = 'state';
    this.reason = el('div', 'reason');
    this.meta = el('div', 'meta');
    head.append(el('div', 'title-row'), this.state, this.reason, this.meta);
    head.firstChild.append(this.dot, this.title);
    this.chartWrap = el('div', 'chart-wrap');
    this.context = el('dl', 'context');
    this.logEl = el('ol', 'log');
    this.element.append(head, this.chartWrap, this.context, this.logEl);
    for (const entry of this.log) this.renderLogLine(entry);
  }

  setDefinition(definition) {
    const chart = buildChart(definition);
    this.chart = chart;
    this.chartWrap.replaceChildren(chart.element);
    if (this.snapshot) chart.highlight(this.snapshot.value);
  }

  /**
   * Shows a snapshot. `at` is when the state was entered if this snapshot changed it (service
   * time), null when unknown (a registration replayed to a page that connected later).
   */
  show(snapshot, at) {
    this.snapshot = snapshot;
    const text = stateText(snapshot.value) || snapshot.status || '';
    if (text !== this.lastState) {
      this.lastState = text;
      this.stateSince = at;
    }
    this.chart?.highlight(snapshot.value);
    this.render();
  }

  render(now = Date.now()) {
    const snap = this.snapshot;
    const health = healthOf(this.name, snap);
    this.element.classList.remove('level-ok', 'level-warn', 'level-bad', 'level-off');
    this.element.classList.add(`level-${health.level}`);
    this.element.dataset.health = health.level;
    this.dot.title = health.why;
    this.state.textContent = this.lastState ?? '…';
    const ctx = (snap && snap.context) || {};
    this.reason.textContent = typeof ctx.reason === 'string' && ctx.reason ? ctx.reason : health.why;
    const err = errorText(ctx.lastError);
    this.meta.replaceChildren(
      el('span', 'age', this.stateSince ? `for ${age(now - this.stateSince)}` : 'for a while (entered before the history this page has)'),
    );
    if (err) this.meta.append(el('span', 'error', err));
    this.renderContext(ctx, now);
  }

  renderContext(ctx, now) {
    const rows = [];
    for (const [k, v] of Object.entries(ctx)) {
      if (SHOWN_ELSEWHERE.has(k)) continue;
      rows.push(el('dt', '', k), el('dd', '', brief(k, v, now)));
    }
    this.context.replaceChildren(...rows);
  }

  addLog(kind, text, at = Date.now()) {
    const entry = { t: at, kind, text };
    this.log.push(entry);
    if (this.log.length > LOG_LINES) this.log.shift();
    this.renderLogLine(entry);
  }

  renderLogLine(entry) {
    const stick = this.logEl.scrollTop + this.logEl.clientHeight >= this.logEl.scrollHeight - 4;
    const li = el('li', `log-${entry.kind}`);
    li.append(el('time', '', clock(entry.t)), document.createTextNode(` ${entry.text}`));
    this.logEl.append(li);
    while (this.logEl.childElementCount > LOG_LINES) this.logEl.firstElementChild.remove();
    if (stick) this.logEl.scrollTop = this.logEl.scrollHeight;
  }
}
