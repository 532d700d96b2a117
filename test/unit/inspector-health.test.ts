import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

// The page's modules are plain browser ES modules; health.js touches no DOM, so node loads it.
type Health = { level: 'ok' | 'warn' | 'bad' | 'off'; why: string };
const health = (await import(new URL('../../../inspector/health.js', import.meta.url).href)) as {
  healthOf(name: string, snapshot: unknown): Health;
  activePaths(value: unknown): string[];
  stateText(value: unknown): string;
  worst(levels: string[]): string;
};
const level = (name: string, value: unknown, extra: object = {}) =>
  health.healthOf(name, { status: 'active', value, context: {}, ...extra }).level;

describe('inspector health rules', () => {
  it('leadership (HA_GROUP) says which instance leads', () => {
    const h = (value: unknown) => health.healthOf('leadership', { status: 'active', value, context: { instance: 'a', holder: 'b' } });
    assert.deepEqual(h({ leader: { term: 'holding' } }), { level: 'ok', why: 'a leads its HA group' });
    assert.deepEqual(h('standby'), { level: 'ok', why: 'standby: b leads' });
    assert.equal(h({ fenced: 'flushing' }).level, 'bad');
    assert.equal(h('electing').level, 'warn');
  });

  it('reads nested and parallel state values', () => {
    assert.deepEqual(health.activePaths({ influxDown: 'probing' }), ['influxDown', 'influxDown.probing']);
    assert.deepEqual(health.activePaths({ a: { b: 'c' }, d: 'e' }), ['a', 'a.b', 'a.b.c', 'd', 'd.e']);
    assert.equal(health.stateText({ influxDown: 'probing' }), 'influxDown.probing');
    assert.equal(health.stateText({ p: { a: 'x', b: 'y' } }), 'p.(a.x | b.y)');
  });

  it('makes the unhealthy actor red: writer influxDown, connection not streaming, notifier retrying', () => {
    assert.equal(level('writer', { influxDown: 'probing' }), 'bad');
    assert.equal(level('writer', { influxUp: 'writing' }), 'ok');
    assert.equal(level('writer', 'influxUp'), 'ok');
    assert.equal(level('connection', { connected: 'streaming' }), 'ok');
    assert.equal(level('connection', 'streaming'), 'ok');
    assert.equal(level('connection', 'backoff'), 'bad');
    assert.equal(level('connection', { session: 'stale' }), 'bad');
    assert.equal(level('connection', 'tokenRejected'), 'bad');
    assert.equal(level('connection', 'authorizing'), 'warn', 'transitional');
    assert.equal(level('notifier', 'retrying'), 'bad');
    assert.equal(level('notifier', 'disabled'), 'off');
    assert.equal(level('notifier', 'cooldown', { context: { lastError: { kind: 'permanent', message: '404' } } }), 'warn');
    assert.equal(level('notifier', 'idle'), 'ok');
    assert.equal(level('drainer', 'paused'), 'warn');
    assert.equal(level('drainer', 'draining'), 'ok');
    assert.equal(health.healthOf('writer', { status: 'stopped', value: 'influxUp' }).level, 'bad');
    assert.equal(health.healthOf('drainer', { status: 'error' }).level, 'bad');
    assert.equal(health.worst(['ok', 'warn', 'off']), 'warn');
    assert.equal(health.worst(['ok', 'bad', 'warn']), 'bad');
  });
});
