/**
 * The shapes of a runtime subscription change, shared by the connection actor (which owns the
 * live subscription), the planner that enforces the V3 limits, and `POST /subscriptions`.
 */
import type { FeedMode } from '../config.js';

export interface SubscriptionChangeRequest {
  add?: string[];
  remove?: string[];
  /** Mode for the added keys; when given without `add`, every current key moves to it. */
  mode?: FeedMode;
}

export interface RefusedKey {
  key: string;
  /** Why, in words a user can act on (e.g. "over the full-mode limit of 2000 keys"). */
  reason: string;
}

export interface SubscriptionChangeResult {
  /** The whole subscription after the change: key → mode. */
  subscription: Record<string, FeedMode>;
  accepted: string[];
  removed: string[];
  refused: RefusedKey[];
}
