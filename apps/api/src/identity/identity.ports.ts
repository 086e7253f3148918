/** What the identity use cases need from infrastructure, bound in identity.module.ts. */
export interface PasswordHashing {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  needsRehash(hash: string): boolean;
  /** Spends the time of a real verification, so an unknown email answers as slowly as a wrong password. */
  dummyVerify(): Promise<void>;
}

export interface PasswordRules {
  problems(password: string, identity: { email: string; displayName: string }): { code: string; message: string }[];
}

export interface MailSender {
  send(message: { to: string; subject: string; text: string }): Promise<void>;
}

export const PASSWORD_HASHING = Symbol('PasswordHashing');
export const PASSWORD_RULES = Symbol('PasswordRules');
export const MAIL_SENDER = Symbol('MailSender');
