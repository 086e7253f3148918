import { WebSocket } from 'ws';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, workerDatabase } from '../support/database';
import { call } from '../support/http';
import type { SignedIn } from '../support/identity';
import { newOrg } from '../support/orgs';
import { TestProjector } from '../support/projector';
import { dropPrefix } from '../support/redis';

let api: TestApi;
let projector: TestProjector;

beforeAll(async () => {
  const db = await workerDatabase();
  api = await startTestApi(db, { LIVE_SWEEP_MS: '200' });
  projector = new TestProjector(db, { redisPrefix: api.redisPrefix });
});
afterAll(async () => {
  projector?.close();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

interface Live {
  socket: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<number>;
}

async function ticketFor(user: SignedIn): Promise<string> {
  const reply = await call(api, 'POST', '/v1/ws/tickets', { token: user.accessToken });
  expect(reply.status).toBe(201);
  return reply.body.ticket as string;
}

function connect(ticket: string, origin = api.origin): Promise<Live> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${api.base.replace('http', 'ws')}/v1/ws?ticket=${ticket}`, { headers: { origin } });
    const messages: Record<string, unknown>[] = [];
    const closed = new Promise<number>((r) => socket.on('close', (code) => r(code)));
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
    socket.on('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
    socket.on('error', reject);
    socket.on('open', () => resolve({ socket, messages, closed }));
  });
}

const until = async (check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('the live WebSocket feed', () => {
  it('a member of org A never receives a change of org B; B’s member does, as ids and kinds only', async () => {
    const a = await newOrg(api, 'A');
    const b = await newOrg(api, 'B');
    const liveA = await connect(await ticketFor(a.admin));
    const liveB = await connect(await ticketFor(b.admin));
    try {
      await until(() => liveA.messages.length > 0 && liveB.messages.length > 0);
      expect(liveA.messages[0]).toEqual({ kind: 'welcome', rooms: [`org:${a.orgId}`] });
      const created = await call(api, 'POST', `/v1/orgs/${b.orgId}/tasks`, { token: b.admin.accessToken, body: { title: 'secret title', description: 'secret body' } });
      await projector.catchUp();
      await until(() => liveB.messages.some((m) => m.kind === 'canvas'));
      const change = liveB.messages.find((m) => m.kind === 'canvas')!;
      expect(change).toEqual({ kind: 'canvas', orgId: b.orgId, id: created.body.id, type: 'TaskCreated' });
      expect(JSON.stringify(liveB.messages)).not.toContain('secret');
      await new Promise((r) => setTimeout(r, 300));
      expect(liveA.messages.filter((m) => m.orgId === b.orgId || m.id === created.body.id)).toEqual([]);
      expect(liveA.messages.every((m) => m.kind === 'welcome' || m.orgId === a.orgId)).toBe(true);
    } finally {
      liveA.socket.close();
      liveB.socket.close();
    }
  });

  it('a ticket works once', async () => {
    const org = await newOrg(api);
    const ticket = await ticketFor(org.admin);
    const live = await connect(ticket);
    live.socket.close();
    await expect(connect(ticket)).rejects.toThrow('refused: 401');
  });

  it('an Origin outside the allow-list is refused before any message', async () => {
    const org = await newOrg(api);
    await expect(connect(await ticketFor(org.admin), 'https://evil.example')).rejects.toThrow('refused: 403');
  });

  it('no ticket, no socket', async () => {
    await expect(connect('x'.repeat(43))).rejects.toThrow('refused: 401');
  });

  it('a revoked session gets no ticket, though its access token has not expired', async () => {
    const org = await newOrg(api);
    expect((await call(api, 'POST', '/v1/auth/logout', { cookie: org.admin.cookie })).status).toBe(204);
    const refused = await call(api, 'POST', '/v1/ws/tickets', { token: org.admin.accessToken });
    expect(refused.status).toBe(401);
    expect(refused.body.ticket).toBeUndefined();
  });

  it('a socket is closed when its session is revoked', async () => {
    const org = await newOrg(api);
    const live = await connect(await ticketFor(org.admin));
    expect((await call(api, 'POST', '/v1/auth/logout', { cookie: org.admin.cookie })).status).toBe(204);
    expect(await live.closed).toBe(4401);
  });
});
