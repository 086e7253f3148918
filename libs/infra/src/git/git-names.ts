import { GitInvalidArgumentError } from './git-errors';

/** Object ids are SHA-1 (40 hex digits): Bastion creates its repositories with the default object format. */
export const ZERO_OID = '0000000000000000000000000000000000000000';
const OID = /^[0-9a-f]{40}$/;
/** Lowercase only, so one repository has one path (a case-insensitive file system would otherwise alias two). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const MAIN_REF = 'refs/heads/main';

export function isObjectId(value: unknown): value is string {
  return typeof value === 'string' && OID.test(value);
}

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function assertObjectId(field: string, value: unknown): string {
  if (!isObjectId(value)) throw new GitInvalidArgumentError(field, 'must be a 40-digit lowercase hexadecimal object id');
  return value;
}

export function assertUuid(field: string, value: unknown): string {
  if (!isUuid(value)) throw new GitInvalidArgumentError(field, 'must be a lowercase UUID');
  return value;
}

export interface GitIdentity {
  name: string;
  email: string;
  /** Whole seconds are kept: the same approval always gives the same commit id. */
  date: Date;
}

/** git would silently strip or mangle these; refuse them so what the approval recorded is what the commit says. */
export function assertIdentity(field: string, identity: GitIdentity): void {
  const { name, email, date } = identity;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 256 || /[<>\n\r\0]/.test(name)) {
    throw new GitInvalidArgumentError(`${field}.name`, 'must be 1-256 characters without <, >, NUL or line breaks');
  }
  if (typeof email !== 'string' || email.length > 256 || /[<>\s\0]/.test(email)) {
    throw new GitInvalidArgumentError(`${field}.email`, 'must be at most 256 characters without <, > or spaces');
  }
  if (!(date instanceof Date) || Number.isNaN(date.getTime()) || date.getTime() < 0) {
    throw new GitInvalidArgumentError(`${field}.date`, 'must be a valid Date after 1970');
  }
}

/** git's internal date format, in UTC, so the commit does not depend on the server's time zone. */
export function gitDate(date: Date): string {
  return `@${Math.floor(date.getTime() / 1000)} +0000`;
}
