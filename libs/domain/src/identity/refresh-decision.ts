/**
 * The refresh-token family rules of DESIGN §5, as a pure function. Checked in this order — revocation first, so a
 * revoked family refuses even inside the grace window (Supabase once got this order wrong):
 *   1. a revoked or expired session refuses everything;
 *   2. the current counter rotates;
 *   3. the counter just rotated away, within the grace window, gets the same successor (nothing forks);
 *   4. any other counter is reuse: the family is revoked and the reuse recorded.
 */
export interface RefreshSessionState {
  readonly counter: number;
  readonly graceUntil: Date | null;
  readonly revoked: boolean;
  readonly idleExpiresAt: Date;
  readonly absoluteExpiresAt: Date;
}

export type RefreshDecision =
  | { readonly kind: 'rotate'; readonly fromCounter: number; readonly toCounter: number }
  | { readonly kind: 'same-successor'; readonly counter: number }
  | { readonly kind: 'reuse'; readonly presented: number; readonly current: number }
  | { readonly kind: 'refuse'; readonly reason: 'revoked' | 'expired' };

export function decideRefresh(state: RefreshSessionState, presentedCounter: number, now: Date): RefreshDecision {
  if (state.revoked) return { kind: 'refuse', reason: 'revoked' };
  if (now >= state.idleExpiresAt || now >= state.absoluteExpiresAt) return { kind: 'refuse', reason: 'expired' };
  if (presentedCounter === state.counter) {
    return { kind: 'rotate', fromCounter: state.counter, toCounter: state.counter + 1 };
  }
  if (presentedCounter === state.counter - 1 && state.graceUntil !== null && now < state.graceUntil) {
    return { kind: 'same-successor', counter: state.counter };
  }
  // An older counter — or, with a valid MAC, a newer one, which only a leaked server key could produce.
  return { kind: 'reuse', presented: presentedCounter, current: state.counter };
}
