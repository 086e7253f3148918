import { timingSafeEqual } from 'node:crypto';
import { totpForStep } from './generate-totp';
import { digitsOf, TOTP_WINDOW_STEPS, totpStep, type TotpDigits, type TotpOptions } from './totp-policy';
import { assertTotpSecret } from './totp-secret';

export type TotpVerification = { readonly ok: true; readonly step: number } | { readonly ok: false; readonly reason: 'malformed' | 'mismatch' };

/** Longer input is not a code however it is spaced; stops the normalisation from running over a megabyte. */
const MAX_INPUT_LENGTH = 32;

/** Apps show "123 456", and people paste it so: spaces are not part of the code. */
export function normalizeTotpInput(input: string, digits: TotpDigits): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  const code = input.replace(/\s+/g, '');
  return code.length === digits && /^[0-9]+$/.test(code) ? code : null;
}

/**
 * Every step of the window around `now` whose code is `code`, oldest first. All steps are computed and compared
 * in constant time, so the answer's timing says nothing about which step matched.
 */
export function matchingTotpSteps(code: string, secret: string, now: Date, digits: TotpDigits): number[] {
  const current = totpStep(now);
  const presented = Buffer.from(code, 'latin1');
  const matches: number[] = [];
  for (let step = current - TOTP_WINDOW_STEPS; step <= current + TOTP_WINDOW_STEPS; step += 1) {
    if (step < 0) continue;
    const expected = Buffer.from(totpForStep(secret, step, digits), 'latin1');
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) matches.push(step);
  }
  return matches;
}

/**
 * Checks a code against the ±1-step window and returns the time step it belongs to. It does not know which steps
 * were used already: sign-in goes through {@link acceptTotp}, which does.
 *
 * When a code happens to be valid at two steps of the window (one chance in a million or so), the newer step is
 * returned: recording it also retires the older one, whereas recording the older would leave the same code
 * replayable at the newer step.
 */
export function verifyTotp(code: string, secret: string, now: Date, options: TotpOptions = {}): TotpVerification {
  const digits = digitsOf(options);
  assertTotpSecret(secret);
  const normalized = normalizeTotpInput(code, digits);
  if (normalized === null) return { ok: false, reason: 'malformed' };
  const steps = matchingTotpSteps(normalized, secret, now, digits);
  const newest = steps.at(-1);
  return newest === undefined ? { ok: false, reason: 'mismatch' } : { ok: true, step: newest };
}
