import { toDataURL } from 'qrcode';
import { TotpInvalidOptionError } from './totp-errors';

/**
 * The otpauth URI as a QR code, a `data:image/png;base64,…` URL the enrolment page shows in an `<img>`. Rendered
 * on the server, so the secret never goes to a third-party QR service. Error correction M and a 4-module quiet
 * zone are what phone cameras read reliably off a screen.
 */
export async function otpauthQrCodeDataUrl(otpauthUri: string): Promise<string> {
  if (typeof otpauthUri !== 'string' || !otpauthUri.startsWith('otpauth://totp/')) {
    throw new TotpInvalidOptionError('not an otpauth://totp/ URI');
  }
  return toDataURL(otpauthUri, { type: 'image/png', errorCorrectionLevel: 'M', margin: 4, scale: 6 });
}
