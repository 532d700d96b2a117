/**
 * XState inspection events → the `@statelyai/inspect` wire format (what its WebSocket adapter
 * sends to a relay and the Stately inspector reads), sanitised on the way. The shapes follow
 * `StatelyActorEvent`, `StatelySnapshotEvent` and `StatelyEventEvent` from @statelyai/inspect,
 * with two differences that keep them safe and small: snapshots carry only status, value,
 * context, output and error (never children, history or an actor's input), and actor events
 * carry the `systemId` the page and /state name actors by.
 */
import { createInspector } from '@statelyai/inspect';
import type { InspectionEvent } from 'xstate';
import { DEFAULT_LIMITS, REDACTED, sanitizeEvent, sanitizeValue, type SanitizeLimits } from './sanitize.js';

export interface InspectSnapshot {
  status?: string;
  value?: unknown;
  context?: unknown;
  output?: unknown;
  error?: unknown;
}

interface InspectBase {
  rootId: string | undefined;
  sessionId: string;
  createdAt: string;
  id: string;
  _version: string;
}

export interface InspectActorEvent extends InspectBase {
  type: '@xstate.actor';
  name: string;
  /** Not in the Stately format; ignored there. */
  systemId?: string;
  parentId: string | undefined;
  /** JSON of the machine config (states, transitions, delays, invokes), as the Stately format has it. */
  definition: string | undefined;
  snapshot: InspectSnapshot;
}

export interface InspectSnapshotEvent extends InspectBase {
  type: '@xstate.snapshot';
  event: { type: string; [k: string]: unknown };
  snapshot: InspectSnapshot;
}

export interface InspectEventEvent extends InspectBase {
  type: '@xstate.event';
  event: { type: string; [k: string]: unknown };
  sourceId: string | undefined;
}

export type InspectEvent = InspectActorEvent | InspectSnapshotEvent | InspectEventEvent;

/** The format version the installed @statelyai/inspect stamps on its events (read from it, not copied). */
export const INSPECT_FORMAT_VERSION: string = (() => {
  let version = 'unknown';
  const probe = createInspector({ send: (e) => void (version = e._version) }, { autoStart: false });
  probe.actor('version-probe');
  return version;
})();

let seq = 0;
function base(sessionId: string, rootId: string | undefined): InspectBase {
  return { rootId, sessionId, createdAt: Date.now().toString(), id: String(++seq), _version: INSPECT_FORMAT_VERSION };
}

interface RefInternals {
  id?: string;
  systemId?: string;
  sessionId: string;
  _parent?: { sessionId: string };
  logic?: { config?: unknown };
  getSnapshot(): unknown;
}

export function toInspectSnapshot(snapshot: unknown, limits: SanitizeLimits = DEFAULT_LIMITS): InspectSnapshot {
  const s = (snapshot ?? {}) as Record<string, unknown>;
  const out: InspectSnapshot = { status: typeof s.status === 'string' ? s.status : 'active' };
  if (s.value !== undefined) out.value = sanitizeValue(s.value, limits);
  if (s.context !== undefined) out.context = sanitizeValue(s.context, limits);
  // A promise actor's output can be a bare secret (the token a token fetch resolves with).
  if (s.output !== undefined) out.output = typeof s.output === 'string' ? REDACTED : sanitizeValue(s.output, limits);
  if (s.error !== undefined) out.error = sanitizeValue(s.error, limits);
  return out;
}

const definitions = new WeakMap<object, string>();

/** Machine configs are static, so each is serialised once, whatever the number of actors. */
export function definitionOf(ref: RefInternals, name: string): string {
  const config = ref.logic?.config;
  if (!config || typeof config !== 'object') return JSON.stringify({ id: name });
  let def = definitions.get(config);
  if (def === undefined) {
    def = JSON.stringify(cleanDefinition(config, 0, new WeakSet(), true));
    definitions.set(config, def);
  }
  return def;
}

/**
 * Functions become `{ type: name }` as @statelyai/inspect does (inline guards and actions stay
 * visible as names); a static initial `context` is left out since only sanitised context leaves
 * the process.
 */
function cleanDefinition(v: unknown, depth: number, seen: WeakSet<object>, top = false): unknown {
  if (typeof v === 'function') return { type: v.name || 'inline' };
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? String(v) : v;
  if (depth > 24 || seen.has(v)) return undefined;
  seen.add(v);
  if (Array.isArray(v)) return v.map((x) => cleanDefinition(x, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (top && k === 'context') continue;
    out[k] = cleanDefinition(x, depth + 1, seen);
  }
  return out;
}

export function actorNameOf(ref: RefInternals): string {
  const config = ref.logic?.config as { id?: unknown } | undefined;
  if (ref.systemId) return ref.systemId;
  if (ref.id && ref.id !== ref.sessionId) return ref.id;
  if (config && typeof config === 'object' && typeof config.id === 'string') return config.id;
  return ref.sessionId;
}

/** Converts one XState inspection event; undefined for the kinds the inspector does not show. */
export function convertInspectionEvent(ev: InspectionEvent, limits: SanitizeLimits = DEFAULT_LIMITS): InspectEvent | undefined {
  switch (ev.type) {
    case '@xstate.actor': {
      const ref = ev.actorRef as unknown as RefInternals;
      const name = actorNameOf(ref);
      return {
        ...base(ref.sessionId, ev.rootId),
        type: '@xstate.actor',
        name,
        ...(ref.systemId ? { systemId: ref.systemId } : {}),
        parentId: ref._parent?.sessionId,
        definition: definitionOf(ref, name),
        snapshot: toInspectSnapshot(ref.getSnapshot(), limits),
      };
    }
    case '@xstate.snapshot':
      return {
        ...base(ev.actorRef.sessionId, ev.rootId),
        type: '@xstate.snapshot',
        event: sanitizeEvent(ev.event, limits),
        snapshot: toInspectSnapshot(ev.snapshot, limits),
      };
    case '@xstate.event':
      return {
        ...base(ev.actorRef.sessionId, ev.rootId),
        type: '@xstate.event',
        event: sanitizeEvent(ev.event, limits),
        sourceId: ev.sourceRef?.sessionId,
      };
    default:
      return undefined;
  }
}
