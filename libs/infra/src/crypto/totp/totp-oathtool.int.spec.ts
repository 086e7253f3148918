import { execFileSync, spawnSync } from 'node:child_process';
import { acceptTotp } from './accept-totp';
import { generateTotp } from './generate-totp';
import { totpStep } from './totp-policy';
import { generateTotpSecret } from './totp-secret';
import { verifyTotp } from './verify-totp';

/**
 * Debian's `oathtool` (OATH Toolkit) as an independent authenticator. Not skipped when missing: CI installs it,
 * and a skipped interop test would hide that it stopped doing so.
 */
function assertOathtoolInstalled(): void {
  const probe = spawnSync('oathtool', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('oathtool is not installed: apt-get install oathtool (the Debian package .ci/run installs).');
  }
}

/** The codes oathtool shows for the `count` steps starting at the one containing `unixSeconds`. */
function oathtool(secret: string, unixSeconds: number, { digits = 6, count = 1 } = {}): string[] {
  const output = execFileSync('oathtool', ['--totp', '-b', `--digits=${digits}`, `--window=${count - 1}`, `--now=@${unixSeconds}`, secret], {
    encoding: 'utf8',
  });
  const codes = output.trim().split('\n');
  if (codes.length !== count || !codes.every((code) => new RegExp(`^\\d{${digits}}$`).test(code))) {
    throw new Error(`oathtool printed ${codes.length} lines, expected ${count} codes of ${digits} digits`);
  }
  return codes;
}

/** Fixed secrets, so the five codes around each instant are known to differ (checked below) and no run is flaky. */
const SECRETS = ['JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ'];
/** The first, a middle and the last second of one step (1_899_999_990 is a multiple of 30). */
const INSTANTS = [1_899_999_990, 1_900_000_005, 1_900_000_019];

describe('TOTP against oathtool', () => {
  beforeAll(assertOathtoolInstalled);

  it('generates the codes oathtool generates for a secret of ours, 6 and 8 digits', () => {
    const secret = generateTotpSecret();
    for (const unixSeconds of [0, 59, 1_700_000_000, 1_900_000_005, 4_102_444_800]) {
      const instant = new Date(unixSeconds * 1000);
      expect(generateTotp(secret, instant)).toBe(oathtool(secret, unixSeconds)[0]);
      expect(generateTotp(secret, instant, { digits: 8 })).toBe(oathtool(secret, unixSeconds, { digits: 8 })[0]);
    }
  });

  describe.each(SECRETS)('with the secret #%#', (secret) => {
    it.each(INSTANTS)('at %i accepts the codes of steps -1, 0 and +1 (returning the step) and refuses -2 and +2', (unixSeconds) => {
      const now = new Date(unixSeconds * 1000);
      const step = totpStep(now);
      const codes = oathtool(secret, unixSeconds - 60, { count: 5 });
      expect(new Set(codes).size).toBe(5);
      const [twoBefore, before, current, after, twoAfter] = codes as [string, string, string, string, string];

      expect(verifyTotp(before, secret, now)).toEqual({ ok: true, step: step - 1 });
      expect(verifyTotp(current, secret, now)).toEqual({ ok: true, step });
      expect(verifyTotp(after, secret, now)).toEqual({ ok: true, step: step + 1 });
      expect(verifyTotp(twoBefore, secret, now)).toEqual({ ok: false, reason: 'mismatch' });
      expect(verifyTotp(twoAfter, secret, now)).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  it('accepts each step once: the same code again, or any code of an earlier step, is refused as reused', () => {
    const [secret] = SECRETS as [string];
    const unixSeconds = 1_900_000_005;
    const now = new Date(unixSeconds * 1000);
    const step = totpStep(now);
    const [before, current, after] = oathtool(secret, unixSeconds - 30, { count: 3 }) as [string, string, string];

    const first = acceptTotp(current, secret, now, null);
    expect(first).toEqual({ ok: true, step });
    expect(acceptTotp(current, secret, now, step)).toEqual({ ok: false, reason: 'reused' });
    // Ten seconds on, still in the window: the same code is still refused.
    expect(acceptTotp(current, secret, new Date(now.getTime() + 10_000), step)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(before, secret, now, step)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(after, secret, now, step)).toEqual({ ok: true, step: step + 1 });
    expect(acceptTotp(current, secret, now, step + 1)).toEqual({ ok: false, reason: 'reused' });
    expect(acceptTotp(after, secret, now, step + 1)).toEqual({ ok: false, reason: 'reused' });
  });
});
