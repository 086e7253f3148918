#!/usr/bin/env node
// `npm start`: build, find or start PostgreSQL and Redis, bootstrap roles, migrate, then run api + projector + worker.
//
// Services, in order of preference:
//   1. DATABASE_URL / REDIS_URL when set;
//   2. the PostgreSQL (5432) and Redis (6379) already listening on 127.0.0.1;
//   3. project-local ones started from this machine's `postgres` / `redis-server` binaries under ./.data
//      (git-ignored), stopped again when Bastion stops. BASTION_LOCAL_SERVICES=1 forces this choice.
// Plain JavaScript on purpose: it must run before anything is built.
'use strict';
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, writeFileSync } = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DATA = path.join(ROOT, '.data');
const LOCAL_PG_PORT = Number(process.env.BASTION_LOCAL_PG_PORT || 54329);
const LOCAL_REDIS_PORT = Number(process.env.BASTION_LOCAL_REDIS_PORT || 63799);
const FORCE_LOCAL = process.env.BASTION_LOCAL_SERVICES === '1';
const cleanups = [];

const say = (line) => process.stdout.write(`bastion: ${line}\n`);
function fail(line) {
  process.stderr.write(`bastion: ${line}\n`);
  runCleanups();
  process.exit(1);
}
function runCleanups() {
  while (cleanups.length) {
    try {
      cleanups.pop()();
    } catch {
      /* best effort */
    }
  }
}

function listening(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(check, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`${what} did not come up within ${timeoutMs / 1000} s.`);
}

function which(binary) {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Debian keeps PostgreSQL's server binaries off PATH, under /usr/lib/postgresql/<version>/bin. */
function postgresBinDir() {
  const onPath = which('pg_ctl');
  if (onPath) return path.dirname(onPath);
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(path.join(base, v, 'bin', 'pg_ctl')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(base, versions[0], 'bin') : null;
}

/** initdb and postgres refuse to run as root: run them as the `postgres` system user when we are root. */
function asPostgresUser(command, args, options = {}) {
  const isRoot = process.getuid && process.getuid() === 0;
  if (!isRoot) return spawnSync(command, args, { encoding: 'utf8', ...options });
  return spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8', ...options });
}

async function resolvePostgres() {
  if (process.env.DATABASE_URL) {
    say(`PostgreSQL: using DATABASE_URL (${redact(process.env.DATABASE_URL)})`);
    return process.env.DATABASE_URL;
  }
  if (!FORCE_LOCAL && (await listening(5432))) {
    say('PostgreSQL: using the server listening on 127.0.0.1:5432 (login postgres, database bastion)');
    return 'postgres://postgres@127.0.0.1:5432/bastion';
  }
  const bin = postgresBinDir();
  if (!bin) fail('PostgreSQL: none is listening on 127.0.0.1:5432 and no PostgreSQL binaries were found; install PostgreSQL or set DATABASE_URL.');
  const dir = path.join(DATA, 'postgres');
  const isRoot = process.getuid && process.getuid() === 0;
  mkdirSync(DATA, { recursive: true });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true });
    if (isRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    const init = asPostgresUser(path.join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-instructions']);
    if (init.status !== 0) fail(`PostgreSQL: initdb failed in ${dir}: ${(init.stderr || '').trim()}`);
    say(`PostgreSQL: initialised a project-local cluster in ${path.relative(ROOT, dir)}`);
  }
  if (!(await listening(LOCAL_PG_PORT))) {
    const log = path.join(dir, 'server.log');
    const started = asPostgresUser(path.join(bin, 'pg_ctl'), [
      '-D', dir, '-l', log, '-w', '-o', `-p ${LOCAL_PG_PORT} -c listen_addresses=127.0.0.1 -k ${dir}`, 'start',
    ]);
    if (started.status !== 0) fail(`PostgreSQL: pg_ctl start failed (see ${log}): ${(started.stderr || '').trim()}`);
    cleanups.push(() => asPostgresUser(path.join(bin, 'pg_ctl'), ['-D', dir, '-m', 'fast', 'stop']));
    say(`PostgreSQL: started a project-local server on 127.0.0.1:${LOCAL_PG_PORT} from ${bin}`);
  } else {
    say(`PostgreSQL: using the project-local server already on 127.0.0.1:${LOCAL_PG_PORT}`);
  }
  return `postgres://postgres@127.0.0.1:${LOCAL_PG_PORT}/bastion`;
}

async function resolveRedis() {
  if (process.env.REDIS_URL) {
    say(`Redis: using REDIS_URL (${redact(process.env.REDIS_URL)})`);
    return process.env.REDIS_URL;
  }
  if (!FORCE_LOCAL && (await listening(6379))) {
    say('Redis: using the server listening on 127.0.0.1:6379');
    return 'redis://127.0.0.1:6379';
  }
  const binary = which('redis-server');
  if (!binary) fail('Redis: none is listening on 127.0.0.1:6379 and redis-server was not found; install Redis or set REDIS_URL.');
  if (!(await listening(LOCAL_REDIS_PORT))) {
    const dir = path.join(DATA, 'redis');
    mkdirSync(dir, { recursive: true });
    const child = spawn(binary, ['--port', String(LOCAL_REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
      detached: false,
    });
    cleanups.push(() => child.kill('SIGTERM'));
    await waitFor(() => listening(LOCAL_REDIS_PORT), 'Redis', 10000);
    say(`Redis: started a project-local server on 127.0.0.1:${LOCAL_REDIS_PORT} (nothing kept on disk)`);
  }
  return `redis://127.0.0.1:${LOCAL_REDIS_PORT}`;
}

function redact(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}

function build() {
  const swc = path.join(ROOT, 'node_modules', '.bin', 'swc');
  if (!existsSync(swc)) fail('dependencies are not installed; run `npm install` first.');
  const r = spawnSync(swc, ['apps', 'libs', 'bench', '-d', 'dist', '--quiet'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) fail('the build failed (see above).');
  say('built dist/');
}

function prefixLines(stream, name, out) {
  let buffer = '';
  stream.on('data', (chunk) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
}

async function main() {
  build();
  const env = { ...process.env };
  env.DATABASE_URL = await resolvePostgres();
  env.REDIS_URL = await resolveRedis();
  env.PORT = env.PORT || '3000';
  const setup = spawnSync(process.execPath, [path.join(ROOT, 'dist/apps/cli/src/main.js'), 'setup'], { cwd: ROOT, env, encoding: 'utf8' });
  process.stdout.write(setup.stdout.replace(/^/gm, 'bastion: ').replace(/bastion: $/, ''));
  if (setup.status !== 0) fail((setup.stderr || 'setup failed').trim().replace(/^bastion: /, ''));

  const children = new Map();
  let stopping = false;
  const stopAll = (code) => {
    if (stopping) return;
    stopping = true;
    for (const child of children.values()) child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 15000);
    timer.unref();
    const wait = () => (children.size === 0 ? (runCleanups(), process.exit(code)) : setTimeout(wait, 100));
    wait();
  };
  for (const app of ['api', 'projector', 'worker']) {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps', app, 'src/main.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    prefixLines(child.stdout, app, process.stdout);
    prefixLines(child.stderr, app, process.stderr);
    children.set(app, child);
    child.on('exit', (code, signal) => {
      children.delete(app);
      if (!stopping) {
        process.stderr.write(`bastion: ${app} exited (${signal || code}); stopping the others.\n`);
        stopAll(1);
      }
    });
  }
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));

  // The API listens on HOST (default 127.0.0.1, loopback only); a wildcard address is reached on loopback too.
  const host = !env.HOST || env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${env.PORT}`;
  await waitFor(async () => {
    try {
      return (await fetch(`${base}/health/ready`)).ok;
    } catch {
      return false;
    }
  }, 'The API', 60000);
  say(`up: API ${base} (ready: ${base}/health/ready, OpenAPI: ${base}/docs), projector and worker running. Ctrl-C stops everything.`);
  writeFileSync(path.join(DATA, 'last-start.json'), JSON.stringify({ at: new Date().toISOString(), api: base }, null, 2));
}

mkdirSync(DATA, { recursive: true });
main().catch((error) => fail(error.stack || String(error)));
