/**
 * Logs every state change of every actor once, at info, with the event that caused it and the
 * reason the actor gives in its context. Done by XState inspection rather than by log actions in
 * each machine, so machines stay pure and no transition can be forgotten.
 */
import type { ActorRefLike, InspectionEvent } from 'xstate';
import type { Logger } from '../logger.js';

interface MachineLikeSnapshot {
  value?: unknown;
  status?: string;
  context?: { reason?: unknown; lastError?: unknown } | undefined;
}

/** `influxDown.probing`-style text for nested state values. */
export function stateText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateText(v);
        return inner && typeof v === 'object' && Object.keys(v as object).length > 1 ? `${k}.(${inner})` : inner ? `${k}.${inner}` : k;
      })
      .join(',');
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

export function actorName(ref: ActorRefLike): string {
  const r = ref as ActorRefLike & { systemId?: string; id?: string };
  return r.systemId ?? r.id ?? r.sessionId;
}

export function createTransitionLogger(logger: Logger): (ev: InspectionEvent) => void {
  const last = new Map<string, string>();
  const children = new Map<string, Logger>();
  return (ev) => {
    if (ev.type !== '@xstate.snapshot') return;
    const snap = ev.snapshot as MachineLikeSnapshot;
    if (snap.value === undefined) return; // not a state machine (promise/callback actors)
    const name = actorName(ev.actorRef);
    const to = stateText(snap.value);
    const from = last.get(ev.actorRef.sessionId);
    if (from === to) return;
    last.set(ev.actorRef.sessionId, to);
    if (snap.status === 'stopped' || snap.status === 'done') last.delete(ev.actorRef.sessionId);
    let log = children.get(name);
    if (!log) {
      log = logger.child({ actor: name });
      children.set(name, log);
    }
    const reason = snap.context?.reason;
    log.info(
      { from: from ?? null, to, event: ev.event.type, ...(typeof reason === 'string' ? { reason } : {}) },
      `${name}: ${from ?? '(start)'} → ${to}${typeof reason === 'string' && reason ? ` (${reason})` : ''}`,
    );
  };
}
