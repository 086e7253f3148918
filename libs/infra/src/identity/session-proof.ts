import { createHash, createHmac } from 'node:crypto';

/**
 * The per-session proof the API presents to `authz.begin`: `HMAC(session-proof key, session id)`. The database
 * keeps only its SHA-256, so neither a database dump nor injected SQL can present another session's proof.
 */
export function sessionProof(key: Buffer, sessionId: string): Buffer {
  return createHmac('sha256', key).update(sessionId).digest();
}

export function sessionProofHash(key: Buffer, sessionId: string): Buffer {
  return createHash('sha256').update(sessionProof(key, sessionId)).digest();
}
