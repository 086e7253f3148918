import { ChildProcess, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { isUuid } from './git-names';
import { hooksInstalled } from './hooks/install-hooks';

/**
 * Git smart HTTP for one request: `git http-backend` as a CGI child process (DESIGN §7). Framework-agnostic — the
 * API authenticates, authorises the route `parseGitHttpRoute` returns, mints the one-time push token, then hands the
 * request and response here.
 *
 * Only the smart protocol's four routes are served (no dumb HTTP file access), repository paths are UUIDs, the
 * child gets a clean environment (PATH and the CGI variables, nothing of the API's secrets), and request size and
 * wall time are bounded. A receive-pack without a push token, or in a repository whose hooks are missing, is
 * refused here rather than left to git.
 */

export type GitService = 'git-upload-pack' | 'git-receive-pack';

export interface GitHttpRoute {
  orgId: string;
  repoId: string;
  service: GitService;
  /** `advertisement` is `GET info/refs?service=…`; `rpc` is the `POST /git-…-pack` that follows it. */
  kind: 'advertisement' | 'rpc';
  /** True for both halves of a push: the API needs write access and a push token for them. */
  isPush: boolean;
}

const ROUTE = /^\/([0-9a-f-]{36})\/([0-9a-f-]{36})\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;

/** The route of a smart-HTTP request, or null for anything else (dumb HTTP, traversal, odd methods or queries). */
export function parseGitHttpRoute(method: string, path: string, query: string): GitHttpRoute | null {
  const match = ROUTE.exec(path);
  if (!match) return null;
  const [, orgId, repoId, endpoint] = match as unknown as [string, string, string, string];
  if (!isUuid(orgId) || !isUuid(repoId)) return null;
  if (endpoint === 'info/refs') {
    if (method !== 'GET') return null;
    const service = /^service=(git-upload-pack|git-receive-pack)$/.exec(query)?.[1] as GitService | undefined;
    if (!service) return null;
    return { orgId, repoId, service, kind: 'advertisement', isPush: service === 'git-receive-pack' };
  }
  if (method !== 'POST' || query !== '') return null;
  const service = endpoint as GitService;
  return { orgId, repoId, service, kind: 'rpc', isPush: service === 'git-receive-pack' };
}

export interface GitHttpRequest {
  method: string;
  /** The path below the mount point, e.g. `/<orgId>/<repoId>.git/info/refs` (becomes PATH_INFO). */
  path: string;
  /** The raw query string without `?`. */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  /** The request body (an IncomingMessage). */
  body: Readable;
  remoteAddress: string;
}

/** The part of a ServerResponse this needs. */
export interface GitHttpResponse {
  readonly headersSent: boolean;
  writeHead(statusCode: number, headers: Record<string, string>): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string): unknown;
  destroy(error?: Error): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
}

export interface GitHttpOptions {
  /** The repositories' root: `<root>/<orgId>/<repoId>.git`. */
  projectRoot: string;
  /** The authenticated principal's id, used by git for reflogs (REMOTE_USER). */
  remoteUser: string;
  /** Required for receive-pack: where pre-receive asks, and the one-time token it asks with. */
  push?: { hookUrl: string; token: string };
  /** Limit on a push's request body (and, through `receive.maxInputSize`, on its pack). */
  maxPushBytes?: number;
  /** Limit on a fetch's request body (wants and haves). */
  maxFetchRequestBytes?: number;
  timeoutMs?: number;
}

export interface GitHttpResult {
  status: number;
  route: GitHttpRoute | null;
  bytesIn: number;
  timedOut: boolean;
  tooLarge: boolean;
  /** http-backend's stderr, bounded: for the log only. */
  stderr: string;
}

const FORWARDED_HEADERS = new Set(['content-type', 'cache-control', 'expires', 'pragma', 'last-modified']);
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_CGI_HEADER_BYTES = 16 * 1024;

export async function serveGitHttp(
  request: GitHttpRequest,
  response: GitHttpResponse,
  options: GitHttpOptions,
): Promise<GitHttpResult> {
  const route = parseGitHttpRoute(request.method, request.path, request.query);
  const refuse = (status: number, text: string): GitHttpResult => {
    request.body.resume(); // drain, so the connection can be reused
    response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    response.end(`${text}\n`);
    return { status, route, bytesIn: 0, timedOut: false, tooLarge: status === 413, stderr: '' };
  };
  if (!route) return refuse(404, 'not found');
  if (!isAbsolute(options.projectRoot)) throw new TypeError('projectRoot must be an absolute path');
  const repoPath = join(options.projectRoot, route.orgId, `${route.repoId}.git`);
  if (!(await stat(join(repoPath, 'HEAD')).catch(() => null))?.isFile()) return refuse(404, 'repository not found');
  if (route.isPush) {
    if (!options.push?.hookUrl || !options.push.token) return refuse(403, 'push refused: no push token');
    if (!(await hooksInstalled(repoPath))) return refuse(500, 'push refused: the repository is not configured');
  }
  if (!/^[\x21-\x7e]{1,200}$/.test(options.remoteUser)) throw new TypeError('remoteUser must be printable ASCII');

  const maxBytes = route.isPush
    ? (options.maxPushBytes ?? 512 * 1024 * 1024)
    : (options.maxFetchRequestBytes ?? 16 * 1024 * 1024);
  const contentLength = header(request.headers, 'content-length');
  if (contentLength !== undefined && (!/^\d{1,15}$/.test(contentLength) || Number(contentLength) > maxBytes)) {
    return refuse(413, 'request too large');
  }

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: options.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: request.path,
    QUERY_STRING: request.query,
    REQUEST_METHOD: request.method,
    REMOTE_USER: options.remoteUser,
    REMOTE_ADDR: sanitize(request.remoteAddress) ?? '',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'receive.maxInputSize',
    GIT_CONFIG_VALUE_0: String(maxBytes),
  };
  const contentType = sanitize(header(request.headers, 'content-type'));
  if (contentType) env.CONTENT_TYPE = contentType;
  if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
  const encoding = header(request.headers, 'content-encoding');
  if (encoding === 'gzip' || encoding === 'x-gzip') env.HTTP_CONTENT_ENCODING = encoding;
  const protocol = header(request.headers, 'git-protocol');
  if (protocol && /^[A-Za-z0-9=:.,_-]{1,256}$/.test(protocol)) env.HTTP_GIT_PROTOCOL = protocol;
  if (route.isPush && options.push) {
    env.BASTION_HOOK_URL = options.push.hookUrl;
    env.BASTION_PUSH_TOKEN = options.push.token;
  }

  // Its own process group, so a timeout also ends receive-pack, pack-objects and the hooks below it.
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  return pump(child, request, response, { maxBytes, timeoutMs: options.timeoutMs ?? 10 * 60_000, route });
}

function pump(
  child: ChildProcess,
  request: GitHttpRequest,
  response: GitHttpResponse,
  limits: { maxBytes: number; timeoutMs: number; route: GitHttpRoute },
): Promise<GitHttpResult> {
  const stdin = child.stdin!;
  const stdout = child.stdout!;
  return new Promise((resolve) => {
    const result: GitHttpResult = {
      status: 0,
      route: limits.route,
      bytesIn: 0,
      timedOut: false,
      tooLarge: false,
      stderr: '',
    };
    let head: Buffer | null = Buffer.alloc(0); // CGI headers not yet parsed while non-null
    let ended = false;
    let done = false;

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    };
    const fail = (status: number, text: string) => {
      kill();
      if (!response.headersSent) {
        result.status = status;
        response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
        response.end(`${text}\n`);
        ended = true;
      } else if (!ended) {
        response.destroy(new Error(text));
        ended = true;
      }
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      fail(504, 'git timed out');
    }, limits.timeoutMs);
    response.once('close', () => {
      if (!ended) kill(); // the client went away
    });

    // Request body → http-backend, counted and bounded.
    stdin.on('error', () => undefined); // the child may exit (refusing) before reading everything
    if (request.method === 'POST') {
      request.body.on('data', (chunk: Buffer) => {
        result.bytesIn += chunk.length;
        if (result.bytesIn > limits.maxBytes) {
          result.tooLarge = true;
          request.body.pause();
          fail(413, 'request too large');
          return;
        }
        if (!stdin.write(chunk)) {
          request.body.pause();
          stdin.once('drain', () => request.body.resume());
        }
      });
      request.body.on('end', () => stdin.end());
      request.body.on('error', () => fail(400, 'request body failed'));
    } else {
      stdin.end();
    }

    child.stderr!.on('data', (chunk: Buffer) => {
      if (result.stderr.length < 16 * 1024) result.stderr += chunk.toString('utf8');
    });

    // http-backend's output: CGI headers, then the body streamed through with back-pressure. The head is sent with
    // the first body bytes (http-backend prints it before reading the request), so a request that times out
    // before git answered anything still gets a clean 504.
    let pendingHead: { status: number; headers: Record<string, string> } | null = null;
    const flushHead = () => {
      if (pendingHead && !response.headersSent) response.writeHead(pendingHead.status, pendingHead.headers);
      pendingHead = null;
    };
    stdout.on('data', (chunk: Buffer) => {
      if (ended) return;
      if (head !== null) {
        head = Buffer.concat([head, chunk]);
        const at = head.indexOf(HEADER_END);
        if (at < 0) {
          if (head.length > MAX_CGI_HEADER_BYTES) fail(502, 'bad gateway');
          return;
        }
        pendingHead = parseCgiHeaders(head.subarray(0, at).toString('latin1'));
        result.status = pendingHead.status;
        chunk = head.subarray(at + HEADER_END.length);
        head = null;
        if (chunk.length === 0) return;
      }
      flushHead();
      if (!response.write(chunk)) {
        stdout.pause();
        response.once('drain', () => stdout.resume());
      }
    });

    child.on('error', () => fail(500, 'git is unavailable'));
    child.on('close', () => {
      clearTimeout(timer);
      if (!ended) {
        if (head !== null) {
          fail(502, 'bad gateway');
        } else {
          flushHead();
          response.end();
        }
        ended = true;
      }
      if (!done) {
        done = true;
        resolve(result);
      }
    });
  });
}

/** CGI response headers (RFC 3875 §6): `Status: 200 OK` sets the code; only content and caching headers pass. */
export function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'status') {
      const code = Number(/^(\d{3})/.exec(value)?.[1]);
      if (code >= 100 && code <= 599) status = code;
    } else if (FORWARDED_HEADERS.has(name)) {
      headers[name] = value;
    }
  }
  return { status, headers };
}

function header(headers: GitHttpRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sanitize(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.replace(/[^\x20-\x7e]/g, '').slice(0, 256);
}
