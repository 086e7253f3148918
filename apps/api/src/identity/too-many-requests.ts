import type { Response } from 'express';
import { ProblemError, problemType } from '../http/problem';

/** A 429 problem for a per-IP request limit, with the `Retry-After` the limiter gave. */
export function tooManyRequests(res: Response, retryAfterSeconds: number, title: string): ProblemError {
  res.setHeader('Retry-After', String(retryAfterSeconds));
  return new ProblemError({ type: problemType('too-many-requests'), title, status: 429 });
}
