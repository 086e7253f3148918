import { buildOtpauthUri } from './build-otpauth-uri';
import { generateTotp } from './generate-totp';
import { otpauthQrCodeDataUrl } from './otpauth-qr-code';
import { TotpError } from './totp-errors';
import { generateTotpSecret } from './totp-secret';
import { verifyTotp } from './verify-totp';

describe('TOTP enrolment', () => {
  it('generates 160-bit base32 secrets, each different', () => {
    const secrets = Array.from({ length: 100 }, generateTotpSecret);
    for (const secret of secrets) expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(new Set(secrets).size).toBe(100);
    const now = new Date();
    expect(verifyTotp(generateTotp(secrets[0]!, now), secrets[0]!, now).ok).toBe(true);
  });

  it('builds an otpauth URI labelled Bastion:<email>, issuer Bastion, with the default profile left implicit', () => {
    const secret = generateTotpSecret();
    const uri = buildOtpauthUri(secret, 'alice+mfa@example.com');
    const url = new URL(uri);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/Bastion:alice+mfa@example.com');
    expect(url.pathname).toBe('/Bastion:alice%2Bmfa%40example.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({ secret, issuer: 'Bastion' });
  });

  it.each([
    ['empty', ''],
    ['surrounded by spaces', ' alice@example.com'],
    ['with a colon', 'alice:x@example.com'],
    ['with a control character', 'alice\n@example.com'],
    ['too long', `${'a'.repeat(250)}@example.com`],
  ])('refuses an account name that is %s', (_, name) => {
    expect(() => buildOtpauthUri(generateTotpSecret(), name)).toThrow(expect.objectContaining({ code: 'TOTP.INVALID_ACCOUNT_NAME' }));
  });

  it('refuses to put an invalid secret in a URI', () => {
    expect(() => buildOtpauthUri('not a secret', 'alice@example.com')).toThrow(expect.objectContaining({ code: 'TOTP.INVALID_SECRET' }));
  });

  it('renders the URI as a square PNG QR code in a data URL', async () => {
    const dataUrl = await otpauthQrCodeDataUrl(buildOtpauthUri(generateTotpSecret(), 'alice@example.com'));
    const prefix = 'data:image/png;base64,';
    expect(dataUrl.startsWith(prefix)).toBe(true);
    const png = Buffer.from(dataUrl.slice(prefix.length), 'base64');
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
    const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    expect(width).toBe(height);
    expect(width).toBeGreaterThanOrEqual(200);
  });

  it('renders only otpauth TOTP URIs', async () => {
    await expect(otpauthQrCodeDataUrl('https://example.com/')).rejects.toBeInstanceOf(TotpError);
  });
});
