/**
 * A broken invariant. Each subclass has a stable `code`, mapped to an RFC 9457 problem type in one place
 * at the edge (apps/api). Messages are for operators and may be shown to the caller; they never carry secrets.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
