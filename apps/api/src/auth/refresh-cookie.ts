import type { Response } from 'express';
import type { BastionRequest } from './request-context';

/**
 * `__Host-bastion_rt`: HttpOnly (no script reads it), Secure, SameSite=Strict, Path=/ and no Domain — the
 * `__Host-` prefix makes browsers refuse it from a sibling subdomain (say, a preview of agent-built code).
 * Nothing relaxes `Secure`: tests send the `Cookie` header themselves.
 */
export const REFRESH_COOKIE = '__Host-bastion_rt';

export function setRefreshCookie(res: Response, token: string, maxAgeSeconds: number): void {
  res.append(
    'Set-Cookie',
    `${REFRESH_COOKIE}=${token}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; Path=/; HttpOnly; Secure; SameSite=Strict`,
  );
}

export function clearRefreshCookie(res: Response): void {
  res.append('Set-Cookie', `${REFRESH_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict`);
}

export function readRefreshCookie(req: BastionRequest): string | null {
  const header = req.header('cookie');
  if (!header) return null;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === REFRESH_COOKIE) return value.join('=') || null;
  }
  return null;
}
