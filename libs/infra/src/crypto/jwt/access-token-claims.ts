/**
 * What an access token says about its bearer, and the one rule set both the signer and the verifier hold it to,
 * so we cannot sign a token we would refuse.
 *
 * Wire names (DESIGN §5): `sub`, `sub_type`, `sid`, `amr`, and `org` for agents only — a human acts across the
 * orgs they belong to, so a human token is not bound to one; an agent belongs to exactly one.
 */

interface AccessTokenSubjectBase {
  /** The principal's id (UUID). */
  readonly subject: string;
  /** The session (refresh-token family) the token was issued in; step-up checks read MFA time through it. */
  readonly sessionId: string;
  /** RFC 8176 authentication method references, e.g. `['pwd', 'otp']`. */
  readonly amr: readonly string[];
}

export interface HumanAccessTokenClaims extends AccessTokenSubjectBase {
  readonly subjectType: 'human';
}

export interface AgentAccessTokenClaims extends AccessTokenSubjectBase {
  readonly subjectType: 'agent';
  readonly orgId: string;
}

export type AccessTokenClaims = HumanAccessTokenClaims | AgentAccessTokenClaims;

/** The verified bearer of an access token. */
export type AccessTokenPrincipal = AccessTokenClaims & {
  readonly jti: string;
  readonly expiresAt: Date;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Lower-case canonical form only, so one principal has one spelling in every log and comparison. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

export function toWireClaims(claims: AccessTokenClaims): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    sub: claims.subject,
    sub_type: claims.subjectType,
    sid: claims.sessionId,
    amr: [...claims.amr],
  };
  if (claims.subjectType === 'agent') wire.org = claims.orgId;
  return wire;
}

/** Reads the claims of a verified token; a string is the reason they are malformed. */
export function fromWireClaims(wire: Readonly<Record<string, unknown>>): AccessTokenClaims | string {
  const { sub, sub_type: subjectType, sid, amr } = wire;
  if (!isUuid(sub)) return '"sub" is not a UUID';
  if (!isUuid(sid)) return '"sid" is not a UUID';
  if (!Array.isArray(amr) || amr.length === 0 || !amr.every((method) => typeof method === 'string' && method.length > 0)) {
    return '"amr" is not a non-empty array of strings';
  }
  const base = { subject: sub, sessionId: sid, amr: Object.freeze([...(amr as string[])]) };
  switch (subjectType) {
    case 'human':
      if (Object.hasOwn(wire, 'org')) return 'a human token carries "org"';
      return { ...base, subjectType };
    case 'agent':
      if (!isUuid(wire.org)) return 'an agent token lacks a UUID "org"';
      return { ...base, subjectType, orgId: wire.org };
    default:
      return '"sub_type" is neither human nor agent';
  }
}
