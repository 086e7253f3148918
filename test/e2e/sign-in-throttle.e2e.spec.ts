import Redis from 'ioredis';
import { reportSignInThrottle } from '../../apps/worker/src/identity/report-sign-in-throttle.processor';
import { PostgresEventStore } from '../../libs/infra/src/event-store/postgres/postgres-event-store.adapter';
import { SignInLimiter } from '../../libs/infra/src/identity/sign-in-limiter';
import { JobQueue } from '../../libs/infra/src/queue/job-queue';
import { QUEUES } from '../../libs/infra/src/queue/queues';
import { type TestApi, startTestApi } from '../support/api';
import { closePools, poolFor, type TestDatabase, workerDatabase } from '../support/database';
import { call } from '../support/http';
import { signUp } from '../support/identity';
import { dropPrefix } from '../support/redis';
import { redisUrl } from '../support/services';

let db: TestDatabase;
let api: TestApi;
let redis: Redis;

beforeAll(async () => {
  db = await workerDatabase();
  api = await startTestApi(db);
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  redis?.disconnect();
  await api?.close();
  await closePools();
  if (api) await dropPrefix(api.redisPrefix);
});

describe('credential stuffing cannot flood the immutable log', () => {
  it('a burst of refused sign-ins becomes one SignInThrottled event with its count, recorded once by the worker job', async () => {
    const { userId, email } = await signUp(api);
    for (let i = 0; i < 10; i += 1) await call(api, 'POST', '/v1/auth/password', { body: { email, password: `wrong password ${i}!` } });
    for (let i = 0; i < 6; i += 1) expect((await call(api, 'POST', '/v1/auth/password', { body: { email, password: `again ${i} wrong pw` } })).status).toBe(429);
    await api.settled(); // the failures' events and the burst's report are written after each answer
    const store = new PostgresEventStore(poolFor(db.adminUrl));
    expect((await store.readStream(`user-${userId}`)).filter((e) => e.type === 'SignInThrottled')).toHaveLength(0);

    const queue = new JobQueue(QUEUES.signInThrottleReports, redis, api.redisPrefix);
    const jobs = await queue.raw().getJobs(['delayed', 'waiting']);
    const job = jobs.find((j) => (j.data as { userId: string | null }).userId === userId)!;
    expect(job).toBeDefined();
    expect(job.opts.delay).toBeGreaterThan(0); // reported when the lock ends
    expect(JSON.stringify(job.data)).not.toContain(email); // ids and hashes only, never the email
    const workerStore = new PostgresEventStore(poolFor(db.urlFor('bastion_worker')));
    const limiter = new SignInLimiter(redis, api.redisPrefix);
    expect(await reportSignInThrottle(workerStore, limiter, job.data as never)).toBe('recorded');
    expect(await reportSignInThrottle(workerStore, limiter, job.data as never)).toBe('nothing-to-record');
    const throttled = (await store.readStream(`user-${userId}`)).filter((e) => e.type === 'SignInThrottled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]!.data).toMatchObject({ scope: 'account', refusedAttempts: 6 });
    expect(throttled[0]!.metadata.actor).toEqual({ type: 'system', id: 'bastion' });
    await queue.close();
  });
});
