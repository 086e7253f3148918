import { WrongExpectedRevisionError } from './event-store.port';
import { isStreamConflict, retryOnStreamConflict } from './retry-on-stream-conflict';

const pgError = (code: string, constraint?: string) => Object.assign(new Error('from PostgreSQL'), { code, constraint });
const revisionRace = () => pgError('23505', 'events_stream_revision_unique');

describe('retryOnStreamConflict', () => {
  it('recognises a lost race for a stream, and nothing else', () => {
    expect(isStreamConflict(revisionRace())).toBe(true);
    expect(isStreamConflict(pgError('40001'))).toBe(true);
    expect(isStreamConflict(new WrongExpectedRevisionError('user-x', 3, 4))).toBe(true);
    // The same event id twice is an event already recorded: running again would not help, and must not.
    expect(isStreamConflict(pgError('23505', 'events_id_unique'))).toBe(false);
    expect(isStreamConflict(pgError('42501'))).toBe(false);
    expect(isStreamConflict(undefined)).toBe(false);
  });

  it('runs the unit of work again after a lost race, and returns what the winning attempt returned', async () => {
    const work = jest.fn().mockRejectedValueOnce(revisionRace()).mockRejectedValueOnce(pgError('40001')).mockResolvedValue('done');
    await expect(retryOnStreamConflict(work, { pauseMs: 0 })).resolves.toBe('done');
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('gives up after the bounded number of attempts, with the last conflict', async () => {
    const work = jest.fn().mockRejectedValue(revisionRace());
    await expect(retryOnStreamConflict(work, { attempts: 3, pauseMs: 0 })).rejects.toMatchObject({ code: '23505' });
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('never runs again after any other error', async () => {
    const work = jest.fn().mockRejectedValue(pgError('23505', 'events_id_unique'));
    await expect(retryOnStreamConflict(work, { pauseMs: 0 })).rejects.toMatchObject({ constraint: 'events_id_unique' });
    expect(work).toHaveBeenCalledTimes(1);
  });
});
