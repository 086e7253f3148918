import { decideRefresh, type RefreshSessionState } from './refresh-decision';

const now = new Date('2026-11-25T12:00:00Z');
const later = (s: number) => new Date(now.getTime() + s * 1000);
const live: RefreshSessionState = {
  counter: 5,
  graceUntil: later(10),
  revoked: false,
  idleExpiresAt: later(3600),
  absoluteExpiresAt: later(86400),
};

describe('refresh-token families', () => {
  it('the current token rotates to the next counter', () => {
    expect(decideRefresh(live, 5, now)).toEqual({ kind: 'rotate', fromCounter: 5, toCounter: 6 });
  });

  it('the token just rotated away gets the same successor inside the grace window', () => {
    expect(decideRefresh(live, 4, now)).toEqual({ kind: 'same-successor', counter: 5 });
  });

  it('the token just rotated away, after the grace window, is reuse', () => {
    expect(decideRefresh(live, 4, later(11))).toEqual({ kind: 'reuse', presented: 4, current: 5 });
  });

  it('any older token is reuse, even inside the window', () => {
    expect(decideRefresh(live, 3, now)).toEqual({ kind: 'reuse', presented: 3, current: 5 });
  });

  it('a counter from the future is reuse (only a leaked key makes one)', () => {
    expect(decideRefresh(live, 9, now)).toMatchObject({ kind: 'reuse' });
  });

  it('a revoked family refuses everything, even the current token and even inside the grace window', () => {
    const revoked = { ...live, revoked: true };
    expect(decideRefresh(revoked, 5, now)).toEqual({ kind: 'refuse', reason: 'revoked' });
    expect(decideRefresh(revoked, 4, now)).toEqual({ kind: 'refuse', reason: 'revoked' });
  });

  it('an idle or absolutely expired session refuses', () => {
    expect(decideRefresh({ ...live, idleExpiresAt: now }, 5, now)).toEqual({ kind: 'refuse', reason: 'expired' });
    expect(decideRefresh({ ...live, absoluteExpiresAt: later(-1) }, 5, now)).toEqual({ kind: 'refuse', reason: 'expired' });
  });
});
