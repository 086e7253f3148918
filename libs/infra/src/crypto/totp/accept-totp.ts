import { TotpInvalidOptionError } from './totp-errors';
import { digitsOf, type TotpOptions } from './totp-policy';
import { assertTotpSecret } from './totp-secret';
import { matchingTotpSteps, normalizeTotpInput } from './verify-totp';

export type TotpRefusal = 'malformed' | 'mismatch' | 'reused';

export type TotpAcceptance = { readonly ok: true; readonly step: number } | { readonly ok: false; readonly reason: TotpRefusal };

/**
 * Decides a sign-in (or step-up) code: valid in the ±1-step window and of a step after `lastUsedStep` (null when
 * the user never used a code). Pure: the caller reads `lastUsedStep` and the time, and on `ok` records `step`
 * atomically, e.g.
 *
 *   update credentials set totp_last_step = $step
 *    where user_id = $user and (totp_last_step is null or totp_last_step < $step)
 *
 * treating zero rows updated as `reused` — two concurrent requests with one code must not both pass (RFC 6238
 * §5.2; GitLab's `consumed_timestep`). `reused` tells the audit log that a valid code was replayed, which is
 * worth knowing; the user is told the same as for `mismatch`, and both count against the rate limit.
 *
 * Among several matching steps the newest fresh one is taken, for the reason given at {@link verifyTotp}.
 */
export function acceptTotp(
  code: string,
  secret: string,
  now: Date,
  lastUsedStep: number | null,
  options: TotpOptions = {},
): TotpAcceptance {
  if (lastUsedStep !== null && !(Number.isSafeInteger(lastUsedStep) && lastUsedStep >= 0)) {
    throw new TotpInvalidOptionError('lastUsedStep is null or a non-negative whole number');
  }
  const digits = digitsOf(options);
  assertTotpSecret(secret);
  const normalized = normalizeTotpInput(code, digits);
  if (normalized === null) return { ok: false, reason: 'malformed' };
  const steps = matchingTotpSteps(normalized, secret, now, digits);
  const fresh = steps.filter((step) => lastUsedStep === null || step > lastUsedStep);
  const newest = fresh.at(-1);
  if (newest !== undefined) return { ok: true, step: newest };
  return { ok: false, reason: steps.length > 0 ? 'reused' : 'mismatch' };
}
