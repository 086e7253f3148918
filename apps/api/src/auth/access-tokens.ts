import type { AuthenticatedPrincipal } from './principal';

export interface IssuedAccessToken {
  readonly token: string;
  readonly expiresIn: number;
}

/** The one place tokens are made and checked (every sign-in method ends here). */
export interface AccessTokens {
  issue(principal: Omit<AuthenticatedPrincipal, 'amr'> & { amr: string[] }): Promise<IssuedAccessToken>;
  /** Throws on any invalid token; the caller answers 401 whatever the reason. */
  verify(token: string): Promise<AuthenticatedPrincipal>;
  jwks(): { keys: object[] };
  issueChallenge(userId: string, amr: string[]): Promise<string>;
  verifyChallenge(token: string): Promise<{ userId: string; amr: string[] } | null>;
}

export const ACCESS_TOKENS = Symbol('AccessTokens');
