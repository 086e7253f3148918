import type { Position } from '../event-store.port';
import { START } from '../event-store.port';

/** PostgreSQL positions are `<transaction id>:<global position>`; only this adapter reads them. */
export function encodePgPosition(transactionId: string, position: string): Position {
  return `${transactionId}:${position}` as Position;
}

export function decodePgPosition(position: Position): { transactionId: string; position: string } {
  if (position === START) return { transactionId: '0', position: '0' };
  const match = /^(\d{1,20}):(\d{1,19})$/.exec(position);
  if (!match) throw new Error(`Not a PostgreSQL event-store position: ${JSON.stringify(position)}`);
  return { transactionId: match[1]!, position: match[2]! };
}
