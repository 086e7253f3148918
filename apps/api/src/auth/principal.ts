/** Who a request comes from, as proven by a verified access token. */
export interface AuthenticatedPrincipal {
  readonly type: 'human' | 'agent';
  readonly id: string;
  readonly sessionId: string;
  readonly amr: readonly string[];
  /** Agents are bound to the organisation that owns them; humans are not (the route's org decides). */
  readonly orgId: string | null;
}

declare const human: unique symbol;

/**
 * A principal proven to be a human through a human session. Only {@link asHumanPrincipal} — used by the
 * authentication path — constructs one, so a command that takes a HumanPrincipal cannot be reached by an agent
 * through any call site the compiler accepts.
 */
export type HumanPrincipal = AuthenticatedPrincipal & { readonly type: 'human'; readonly [human]: true };

export function asHumanPrincipal(principal: AuthenticatedPrincipal): HumanPrincipal | null {
  return principal.type === 'human' ? (principal as HumanPrincipal) : null;
}
