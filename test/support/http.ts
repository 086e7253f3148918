import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestApi } from './api';

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  cookies: string[];
}

/** A JSON request with the browser-ish headers the credential routes require (Origin, JSON content type). */
export async function call(
  api: TestApi,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; cookie?: string; origin?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.origin !== null) headers.origin = options.origin ?? api.origin;
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.cookie) headers.cookie = options.cookie;
  const response = await fetch(`${api.base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body, cookies: response.headers.getSetCookie() };
}

/** `name=value` of the refresh cookie in a reply, ready for a `Cookie` header. */
export function refreshCookie(reply: Reply): string | null {
  const raw = reply.cookies.find((c) => c.startsWith('__Host-bastion_rt='));
  if (!raw) return null;
  const pair = raw.split(';')[0]!;
  return pair.endsWith('=') ? null : pair;
}

/** The newest token of a given kind in the newest mail to `to` from the development outbox. */
export function tokenFromMail(mailDir: string, to: string, label: 'Verification token' | 'Reset token' | 'Invitation token'): string {
  const files = readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort();
  for (const file of files.reverse()) {
    const text = readFileSync(join(mailDir, file), 'utf8');
    if (!text.toLowerCase().includes(to.toLowerCase())) continue;
    const match = new RegExp(`${label}: ([A-Za-z0-9_-]+)`).exec(text.replace(/=\r?\n/g, ''));
    if (match) return match[1]!;
  }
  throw new Error(`No mail with a ${label} for ${to}`);
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}
