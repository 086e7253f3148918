import { generateURI } from 'otplib';
import { TotpInvalidAccountNameError } from './totp-errors';
import { TOTP_ISSUER } from './totp-policy';
import { assertTotpSecret } from './totp-secret';

/** RFC 5321's longest address; anything longer is not an email we sent a verification to. */
const MAX_ACCOUNT_NAME_LENGTH = 254;

/**
 * The otpauth:// key URI an authenticator app enrols from (Google's Key Uri Format), labelled `Bastion:<email>`
 * with `issuer=Bastion`, and no algorithm, digits or period: the defaults are Bastion's profile, and some apps
 * mishandle the parameters when present. The URI contains the secret: show it once, never log it.
 */
export function buildOtpauthUri(secret: string, accountEmail: string): string {
  assertTotpSecret(secret);
  if (typeof accountEmail !== 'string' || accountEmail.trim() !== accountEmail || accountEmail.length === 0) {
    throw new TotpInvalidAccountNameError('the account name is empty or has surrounding spaces');
  }
  if (accountEmail.length > MAX_ACCOUNT_NAME_LENGTH) throw new TotpInvalidAccountNameError('the account name is too long');
  // The label is `issuer:account`; apps split it at the first colon, encoded or not.
  if (accountEmail.includes(':')) throw new TotpInvalidAccountNameError('the account name contains a colon');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(accountEmail)) throw new TotpInvalidAccountNameError('the account name contains a control character');
  return generateURI({ strategy: 'totp', issuer: TOTP_ISSUER, label: accountEmail, secret });
}
