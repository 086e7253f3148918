/**
 * The `pre-receive` hook every Bastion repository runs (DESIGN §7): it sends the push's ref updates, with the
 * one-time push token the HTTP layer minted, to the push policy endpoint, and lets the push through only on an
 * explicit `200 {"allowed": true}`. Anything else — no URL, no token, a refused connection, a timeout, another
 * status, a body that is not that JSON — refuses the whole push (fail closed, as Gitea and GitLab do).
 *
 * `isFastForward` is computed here, not by the API: during pre-receive the pushed objects sit in git's quarantine
 * directory, visible only to processes that inherit the hook's environment.
 *
 * Plain CommonJS with no dependencies, run by the Node binary whose path is baked in at install time.
 */

/** What the hook POSTs to `BASTION_HOOK_URL`, with `Authorization: Bearer <BASTION_PUSH_TOKEN>`. */
export interface PreReceiveRequestBody {
  updates: { ref: string; oldSha: string; newSha: string; isFastForward: boolean }[];
}

/** What the policy endpoint answers (status 200) for the push to go through. */
export interface PreReceiveResponseBody {
  allowed: boolean;
  message: string;
}

export const PRE_RECEIVE_DEFAULT_TIMEOUT_MS = 5000;

export function preReceiveScript(timeoutMs: number): string {
  return String.raw`'use strict';
// Installed by Bastion (libs/infra/src/git/hooks/pre-receive.hook.ts). Do not edit: reinstall instead.
const http = require('node:http');
const https = require('node:https');
const { spawnSync } = require('node:child_process');

const TIMEOUT_MS = ${Math.trunc(timeoutMs)};
const ZERO = '0000000000000000000000000000000000000000';
const LINE = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/[^\0\s]+)$/;

// Anything but an explicit process.exit(0) below refuses, even an event loop that simply runs dry.
process.exitCode = 1;

function refuse(message) {
  process.stderr.write('bastion: ' + message + '\n');
  process.exit(1);
}
process.on('uncaughtException', () => refuse('push refused: it could not be checked'));
setTimeout(() => refuse('push refused: the push policy service did not answer in time'), TIMEOUT_MS).unref();

function isFastForward(oldSha, newSha) {
  if (oldSha === ZERO) return true;   // a creation rewrites nothing
  if (newSha === ZERO) return false;  // a deletion is never a fast-forward
  // Inherits the hook's environment, so the quarantined objects of this push are visible.
  const r = spawnSync('git', ['merge-base', '--is-ancestor', oldSha, newSha], { stdio: 'ignore', timeout: TIMEOUT_MS });
  if (r.status === 0) return true;
  if (r.status === 1) return false;
  refuse('push refused: could not compare ' + oldSha + ' with ' + newSha);
}

function clean(text) {
  return String(text).replace(/[^\x20-\x7e]/g, ' ').slice(0, 1000);
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const url = process.env.BASTION_HOOK_URL;
  const token = process.env.BASTION_PUSH_TOKEN;
  if (!url || !token) refuse('push refused: this push carries no push token');
  let target;
  try { target = new URL(url); } catch { refuse('push refused: the push policy service is misconfigured'); }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') refuse('push refused: the push policy service is misconfigured');

  const updates = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) refuse('push refused: unreadable ref update');
    updates.push({ ref: m[3], oldSha: m[1], newSha: m[2], isFastForward: isFastForward(m[1], m[2]) });
  }
  const body = Buffer.from(JSON.stringify({ updates }));
  const request = (target.protocol === 'https:' ? https : http).request(target, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length, authorization: 'Bearer ' + token },
    timeout: TIMEOUT_MS,
  }, (response) => {
    const parts = [];
    let size = 0;
    response.on('data', (c) => {
      size += c.length;
      if (size > 65536) refuse('push refused: the push policy service answered too much');
      parts.push(c);
    });
    response.on('end', () => {
      let answer;
      try { answer = JSON.parse(Buffer.concat(parts).toString('utf8')); } catch { answer = null; }
      const message = answer && typeof answer.message === 'string' ? clean(answer.message) : '';
      if (response.statusCode !== 200 || !answer || answer.allowed !== true) {
        refuse(message || 'push refused by the push policy (status ' + response.statusCode + ')');
      }
      if (message) process.stderr.write('bastion: ' + message + '\n');
      process.exit(0);
    });
    response.on('error', () => refuse('push refused: the push policy service failed'));
  });
  request.on('timeout', () => refuse('push refused: the push policy service did not answer in time'));
  request.on('error', () => refuse('push refused: the push policy service is unreachable'));
  request.end(body);
});
`;
}
