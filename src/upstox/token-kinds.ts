/**
 * Which Upstox token avoids a rejection: said in every log line about a rejected token, so the
 * user learns the fix where they see the problem.
 */
export const ANALYTICS_TOKEN_HINT =
  'a daily access token expires at about 03:30 IST; an Upstox Analytics Token (developer apps page, valid one year, read-only) in UPSTOX_ACCESS_TOKEN avoids that';
