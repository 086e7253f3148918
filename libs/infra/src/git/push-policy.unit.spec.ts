import { ZERO_OID } from './git-names';
import { PushPrincipal, RefUpdate, decidePush } from './push-policy';

const AGENT_ID = '0190f0c4-7e1a-7b3c-9d2e-4f5a6b7c8d9e';
const OTHER_AGENT_ID = '0190f0c4-7e1a-7b3c-9d2e-000000000001';
const agent: PushPrincipal = { type: 'agent', id: AGENT_ID };
const human: PushPrincipal = { type: 'human', id: '0190f0c4-7e1a-7b3c-9d2e-0000000000aa' };
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

const update = (ref: string, change: 'create' | 'update' | 'force-update' | 'delete'): RefUpdate => ({
  ref,
  oldSha: change === 'create' ? ZERO_OID : A,
  newSha: change === 'delete' ? ZERO_OID : B,
  isFastForward: change === 'create' || change === 'update',
});
const own = `refs/heads/agent/${AGENT_ID}/fix-login`;

describe('decidePush', () => {
  describe.each(['create', 'update', 'force-update', 'delete'] as const)('a %s', (change) => {
    it('of refs/heads/main is refused to an agent', () => {
      expect(decidePush(agent, [update('refs/heads/main', change)])).toMatchObject({
        allowed: false,
        decisions: [{ ref: 'refs/heads/main', change, allowed: false, reason: 'MAIN_IS_PROTECTED' }],
      });
    });

    it('of refs/heads/main is refused to a human', () => {
      expect(decidePush(human, [update('refs/heads/main', change)]).decisions[0]).toMatchObject({
        allowed: false,
        reason: 'MAIN_IS_PROTECTED',
      });
    });

    it('of a tag is refused to anyone', () => {
      for (const who of [agent, human]) {
        expect(decidePush(who, [update('refs/tags/v1.0.0', change)]).decisions[0]).toMatchObject({
          allowed: false,
          reason: 'TAGS_ARE_PROTECTED',
        });
      }
    });

    it("of the agent's own agent/<id>/* branch is allowed to that agent", () => {
      expect(decidePush(agent, [update(own, change)])).toMatchObject({ allowed: true, decisions: [{ change, allowed: true }] });
    });

    it("of another agent's branch is refused to an agent", () => {
      expect(decidePush(agent, [update(`refs/heads/agent/${OTHER_AGENT_ID}/x`, change)]).decisions[0]).toMatchObject({
        allowed: false,
        reason: 'OUTSIDE_OWN_AGENT_NAMESPACE',
      });
    });

    it('of an agent branch is refused to a human', () => {
      expect(decidePush(human, [update(own, change)]).decisions[0]).toMatchObject({
        allowed: false,
        reason: 'AGENT_NAMESPACE_IS_RESERVED',
      });
    });

    it('of an ordinary branch is allowed to a human and refused to an agent', () => {
      expect(decidePush(human, [update('refs/heads/feature/login', change)]).allowed).toBe(true);
      expect(decidePush(agent, [update('refs/heads/feature/login', change)]).decisions[0]).toMatchObject({
        allowed: false,
        reason: 'OUTSIDE_OWN_AGENT_NAMESPACE',
      });
    });
  });

  it('refuses main whatever refspec the client used (HEAD:refs/heads/main arrives as refs/heads/main)', () => {
    // git resolves `git push origin HEAD:refs/heads/main` or `:main` client-side; the hook only sees the ref.
    expect(decidePush(agent, [update('refs/heads/main', 'update')]).allowed).toBe(false);
    expect(decidePush(human, [update('refs/heads/main', 'delete')]).allowed).toBe(false);
  });

  it('refuses names that alias main on a case-insensitive file system, and refs below it', () => {
    for (const ref of ['refs/heads/MAIN', 'refs/heads/Main', 'refs/heads/main/x']) {
      expect(decidePush(human, [update(ref, 'create')]).decisions[0]).toMatchObject({ reason: 'MAIN_IS_PROTECTED' });
    }
  });

  it('refuses the whole push when one of its updates is refused (atomic)', () => {
    const decision = decidePush(agent, [update(own, 'update'), update('refs/heads/main', 'update')]);
    expect(decision.allowed).toBe(false);
    expect(decision.decisions.map((d) => d.allowed)).toEqual([true, false]);
    expect(decision.message).toBe(
      'push refused (no ref was updated): refs/heads/main: main changes only through an approved merge request',
    );
  });

  it('allows a push whose every update is allowed', () => {
    const decision = decidePush(agent, [update(own, 'force-update'), update(`${own}-2`, 'create')]);
    expect(decision).toEqual({
      allowed: true,
      message: '',
      decisions: [
        { ref: own, change: 'force-update', allowed: true },
        { ref: `${own}-2`, change: 'create', allowed: true },
      ],
    });
  });

  it('refuses an agent the bare agent/<id> ref, the agent/ prefix itself and a namespace of a non-UUID id', () => {
    for (const ref of [`refs/heads/agent/${AGENT_ID}`, `refs/heads/agent/${AGENT_ID}/`, 'refs/heads/agent']) {
      expect(decidePush(agent, [update(ref, 'create')]).allowed).toBe(false);
    }
    expect(decidePush({ type: 'agent', id: '*' }, [update('refs/heads/agent/*/x', 'create')]).allowed).toBe(false);
    expect(decidePush({ type: 'agent', id: AGENT_ID.toUpperCase() }, [update(`refs/heads/agent/${AGENT_ID.toUpperCase()}/x`, 'create')]).allowed).toBe(false);
  });

  it('refuses a human refs/heads/agent and any case of the agent/ prefix (they would block agents’ branches)', () => {
    for (const ref of ['refs/heads/agent', 'refs/heads/Agent/x', 'refs/heads/AGENT/y']) {
      expect(decidePush(human, [update(ref, 'create')]).decisions[0]).toMatchObject({ reason: 'AGENT_NAMESPACE_IS_RESERVED' });
    }
  });

  it('refuses refs outside refs/heads/ and refs/tags/ (notes, remotes, changes…)', () => {
    for (const ref of ['refs/notes/commits', 'refs/remotes/origin/main', 'refs/changes/1', `refs/agent/${AGENT_ID}/x`]) {
      expect(decidePush(human, [update(ref, 'create')]).decisions[0]).toMatchObject({ reason: 'NOT_A_BRANCH' });
    }
  });

  it('refuses malformed updates and an empty push', () => {
    const bad: RefUpdate[] = [
      { ref: own, oldSha: 'xyz', newSha: B, isFastForward: true },
      { ref: own, oldSha: ZERO_OID, newSha: ZERO_OID, isFastForward: true },
      { ref: 'refs/heads/a..b', oldSha: A, newSha: B, isFastForward: true },
      { ref: 'refs/heads/a b', oldSha: A, newSha: B, isFastForward: true },
      { ref: `refs/heads/agent/${AGENT_ID}/x\n`, oldSha: A, newSha: B, isFastForward: true },
    ];
    for (const u of bad) expect(decidePush(agent, [u]).decisions[0]).toMatchObject({ reason: 'MALFORMED_UPDATE' });
    expect(decidePush(agent, [])).toEqual({ allowed: false, message: 'push refused: the push updates no ref', decisions: [] });
  });
});
