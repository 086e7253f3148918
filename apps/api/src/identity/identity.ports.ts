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

/** Refuses an unacceptable password with one problem naming the field and every rule it breaks. */
export function assertAcceptablePassword(
  rules: PasswordRules,
  password: string,
  identity: { email: string; displayName: string },
  field: string,
  toProblem: (problem: { type: string; title: string; status: number; errors: { field: string; message: string; code: string }[] }) => Error,
): void {
  const problems = rules.problems(password, identity);
  if (problems.length === 0) return;
  throw toProblem({
    type: 'urn:bastion:problem:weak-password',
    title: 'the password is not acceptable',
    status: 422,
    errors: problems.map((p) => ({ field, message: p.message, code: p.code })),
  });
}
