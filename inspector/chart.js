// Draws a statechart from the machine definition an `@xstate.actor` event carries (the JSON of
// its config): states as nested boxes, and in each box the transitions that leave it as
// `EVENT → target` lines (with guards, delays, invoke outcomes and eventless transitions).
// A list per state reads better than crossing arrows in a 330-pixel column and never overlaps.

import { activePaths } from './health.js';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function asArray(x) {
  if (x === undefined || x === null) return [];
  return Array.isArray(x) ? x : [x];
}

function guardText(g) {
  if (!g) return '';
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && typeof g.type === 'string' && !['guard', 'inline', ''].includes(g.type)) return g.type;
  return 'cond';
}

function targetText(t) {
  if (t === undefined || t === null) return null;
  if (typeof t !== 'string') return '?';
  if (t.startsWith('#')) return t.slice(1).split('.').slice(1).join('.') || t.slice(1);
  return t.startsWith('.') ? t.slice(1) : t;
}

/** Normalises one transition config (string, object or array of them) to [{targets, guard}]. */
function branches(config) {
  return asArray(config).map((c) => {
    if (typeof c === 'string') return { targets: [targetText(c)], guard: '' };
    const targets = asArray(c && c.target)
      .map(targetText)
      .filter((x) => x !== null);
    return { targets, guard: guardText(c && c.guard) };
  });
}

function delayText(key) {
  return /^\d+$/.test(key) ? `after ${Number(key) >= 1000 ? `${Number(key) / 1000}s` : `${key}ms`}` : `after ${key}`;
}

function srcText(src) {
  if (typeof src === 'string') return src;
  if (src && typeof src === 'object' && typeof src.type === 'string') return src.type;
  return 'actor';
}

/** Every transition leaving a state node, as [label, branches] pairs. */
export function transitionsOf(node) {
  const out = [];
  for (const [ev, cfg] of Object.entries(node.on || {})) out.push([ev, branches(cfg)]);
  for (const [delay, cfg] of Object.entries(node.after || {})) out.push([delayText(delay), branches(cfg)]);
  if (node.always) out.push(['always', branches(node.always)]);
  for (const inv of asArray(node.invoke)) {
    const name = inv.id && !/^\d/.test(inv.id) ? inv.id : srcText(inv.src);
    if (inv.onDone) out.push([`${name} done`, branches(inv.onDone)]);
    if (inv.onError) out.push([`${name} error`, branches(inv.onError)]);
  }
  return out;
}

function transitionList(node) {
  const list = el('ul', 'transitions');
  for (const [label, bs] of transitionsOf(node)) {
    const li = el('li');
    li.append(el('span', 'ev', label));
    const parts = bs.map((b) => {
      const tgt = b.targets.length ? b.targets.join(', ') : '⟲';
      return b.guard ? `${tgt} [${b.guard}]` : tgt;
    });
    li.append(el('span', 'arrow', ' → '), el('span', 'tg', parts.join(' | ')));
    list.append(li);
  }
  return list;
}

function invokes(node) {
  const names = asArray(node.invoke).map((inv) => srcText(inv.src));
  return names.length ? el('div', 'invokes', `runs ${names.join(', ')}`) : null;
}

function stateBox(key, node, path, isInitial, index) {
  const box = el('div', 'state');
  box.dataset.path = path;
  if (node.type === 'final') box.classList.add('final');
  if (node.type === 'parallel') box.classList.add('parallel');
  const head = el('div', 'state-name', (isInitial ? '▸ ' : '') + key);
  head.title = path;
  box.append(head);
  const inv = invokes(node);
  if (inv) box.append(inv);
  if (transitionsOf(node).length) box.append(transitionList(node));
  if (node.states) box.append(childBoxes(node, `${path}.`, index));
  index.set(path, box);
  return box;
}

function childBoxes(node, prefix, index) {
  const wrap = el('div', node.type === 'parallel' ? 'children regions' : 'children');
  for (const [key, child] of Object.entries(node.states || {})) {
    wrap.append(stateBox(key, child || {}, prefix + key, node.initial === key, index));
  }
  return wrap;
}

/**
 * Builds the chart of a definition (JSON text or object). Returns the element and a function
 * that highlights the active states of a snapshot value.
 */
export function buildChart(definition) {
  let def;
  try {
    def = typeof definition === 'string' ? JSON.parse(definition) : definition || {};
  } catch {
    def = {};
  }
  const root = el('div', 'chart');
  const index = new Map();
  const global = transitionsOf(def);
  if (global.length) {
    const any = el('div', 'state any');
    any.append(el('div', 'state-name', 'in any state'), transitionList(def));
    root.append(any);
  }
  if (def.states) root.append(childBoxes(def, '', index));
  else root.append(el('div', 'empty', 'no statechart (not a state machine)'));
  let active = [];
  function highlight(value) {
    for (const box of active) box.classList.remove('active', 'leaf');
    active = [];
    const paths = activePaths(value);
    for (const p of paths) {
      const box = index.get(p);
      if (!box) continue;
      box.classList.add('active');
      if (!paths.some((q) => q.startsWith(`${p}.`))) box.classList.add('leaf');
      active.push(box);
    }
  }
  return { element: root, highlight, isMachine: Boolean(def.states) };
}
