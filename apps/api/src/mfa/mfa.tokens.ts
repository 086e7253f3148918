export const TOTP_SECRET_BOX = Symbol('TotpSecretBox');
export const MFA_LIMITER = Symbol('MfaLimiter');
