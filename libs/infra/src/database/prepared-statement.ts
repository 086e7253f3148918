import type { QueryConfig } from 'pg';

/**
 * A named statement for a hot path: node-pg parses it once per pooled connection, and PostgreSQL keeps its plan,
 * so later requests skip parsing, rewriting (RLS policies included) and, once it settles on a generic plan,
 * planning. Measured by `npm run bench:rls` (docs/performance.md).
 *
 * Safe under RLS: the plan is tied to the role it was made for and is rebuilt when the role, `row_security`, a
 * policy or a table changes, and the policies' functions and settings are evaluated when the statement runs, not
 * when it was prepared. So a statement prepared during one principal's request reads only the next principal's
 * rows on the same connection (with-principal.int.spec.ts).
 *
 * List the columns rather than `select *`: a named statement keeps its result type, and PostgreSQL refuses to run it
 * ("cached plan must not change result type") on every pooled connection after a migration adds a column.
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
  /** The query to pass to `tx.query(…)`, with its parameters. */
  with(values: readonly unknown[]): QueryConfig;
}

const texts = new Map<string, string>();

/** One name, one text, for the whole process: node-pg would otherwise fail only on a connection that has the other. */
export function prepared(name: string, text: string): PreparedStatement {
  const known = texts.get(name);
  if (known !== undefined && known !== text) throw new Error(`Prepared statement ${name} is already defined with another text`);
  texts.set(name, text);
  return { name, text, with: (values) => ({ name, text, values: [...values] }) };
}
