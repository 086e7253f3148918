import type { PoolClient } from 'pg';

export interface WrappedPersonKey {
  readonly subject: string;
  readonly keyRef: string;
  readonly wrapped: Buffer;
}

interface Row {
  subject: string;
  key_ref: string;
  wrapped: Buffer;
}

const toKey = (row: Row): WrappedPersonKey => ({ subject: row.subject, keyRef: row.key_ref, wrapped: row.wrapped });

/** `authz.person_keys` through its definer functions (migrations/0018_person-keys.sql), in the caller's transaction. */
export class PersonKeyRepository {
  constructor(private readonly tx: PoolClient) {}

  async read(subjects: readonly string[]): Promise<WrappedPersonKey[]> {
    if (subjects.length === 0) return [];
    const { rows } = await this.tx.query<Row>('select * from authz.person_keys_of($1::text[])', [subjects]);
    return rows.map(toKey);
  }

  async readByEmail(lookup: Buffer): Promise<WrappedPersonKey | null> {
    const { rows } = await this.tx.query<Row>('select * from authz.person_key_for_email($1)', [lookup]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  /** Stores the key unless one exists for the subject (or email); returns the one that is stored now. */
  async store(input: { subject: string; emailLookup: Buffer | null; keyRef: string; wrapped: Buffer }): Promise<WrappedPersonKey> {
    const { rows } = await this.tx.query<Row>('select * from authz.store_person_key($1, $2, $3, $4)', [
      input.subject,
      input.emailLookup,
      input.keyRef,
      input.wrapped,
    ]);
    if (!rows[0]) throw new Error('A person key was neither stored nor found.');
    return toKey(rows[0]);
  }
}
