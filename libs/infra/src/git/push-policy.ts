import { ZERO_OID, isObjectId, isUuid } from './git-names';

/**
 * Who may push what (DESIGN §6, §7), as one pure function the API calls from the pre-receive endpoint.
 *
 *  | ref                                 | agent (id A)                          | human                                |
 *  |-------------------------------------|---------------------------------------|--------------------------------------|
 *  | refs/heads/main (any case), main/…  | refused                               | refused                              |
 *  | refs/tags/*                         | refused                               | refused                              |
 *  | refs/heads/agent/A/<name>           | create, update, force-update, delete  | refused                              |
 *  | refs/heads/agent, agent/<other>/…   | refused                               | refused                              |
 *  | any other refs/heads/<name>         | refused                               | create, update, force-update, delete |
 *  | anything outside refs/heads/        | refused                               | refused                              |
 *
 * Humans may force-push and delete their team's non-main, non-agent branches (kept simple on purpose: review and
 * approval happen on merge requests, and main is out of everyone's reach). One refused update refuses the whole
 * push: the hook answers once for all refs, and git applies none of them.
 */

export type PushPrincipal = { type: 'human'; id: string } | { type: 'agent'; id: string };

export interface RefUpdate {
  ref: string;
  oldSha: string;
  newSha: string;
  /** As the pre-receive hook computed it: true for a creation, false for a deletion. */
  isFastForward: boolean;
}

export type PushRefusalReason =
  | 'MAIN_IS_PROTECTED'
  | 'TAGS_ARE_PROTECTED'
  | 'NOT_A_BRANCH'
  | 'OUTSIDE_OWN_AGENT_NAMESPACE'
  | 'AGENT_NAMESPACE_IS_RESERVED'
  | 'MALFORMED_UPDATE'
  | 'EMPTY_PUSH';

export type RefChange = 'create' | 'update' | 'force-update' | 'delete';

export interface RefDecision {
  ref: string;
  change: RefChange | null;
  allowed: boolean;
  reason?: PushRefusalReason;
}

export interface PushDecision {
  allowed: boolean;
  /** Shown to the pusher by git as `remote: …`; names refs and rules, never internal detail. */
  message: string;
  decisions: RefDecision[];
}

const REASON_TEXT: Record<PushRefusalReason, string> = {
  MAIN_IS_PROTECTED: 'main changes only through an approved merge request',
  TAGS_ARE_PROTECTED: 'tags cannot be pushed',
  NOT_A_BRANCH: 'only branches (refs/heads/*) can be pushed',
  OUTSIDE_OWN_AGENT_NAMESPACE: "an agent pushes only to its own agent/<agent-id>/* branches",
  AGENT_NAMESPACE_IS_RESERVED: 'agent/* branches belong to agents',
  MALFORMED_UPDATE: 'the update is malformed',
  EMPTY_PUSH: 'the push updates no ref',
};

export function decidePush(principal: PushPrincipal, updates: readonly RefUpdate[]): PushDecision {
  if (updates.length === 0) {
    return { allowed: false, message: `push refused: ${REASON_TEXT.EMPTY_PUSH}`, decisions: [] };
  }
  const decisions = updates.map((update) => decideRef(principal, update));
  const refused = decisions.filter((d) => !d.allowed);
  if (refused.length === 0) return { allowed: true, message: '', decisions };
  const lines = refused.map((d) => `${printable(d.ref)}: ${REASON_TEXT[d.reason!]}`);
  return { allowed: false, message: `push refused (no ref was updated): ${lines.join('; ')}`, decisions };
}

function decideRef(principal: PushPrincipal, update: RefUpdate): RefDecision {
  const { ref } = update;
  const refuse = (reason: PushRefusalReason, change: RefChange | null = null): RefDecision => ({
    ref,
    change,
    allowed: false,
    reason,
  });
  const change = classify(update);
  if (change === null || typeof ref !== 'string' || !wellFormedRef(ref)) return refuse('MALFORMED_UPDATE');
  const lower = ref.toLowerCase();
  if (lower === 'refs/heads/main' || lower.startsWith('refs/heads/main/')) return refuse('MAIN_IS_PROTECTED', change);
  if (lower.startsWith('refs/tags/')) return refuse('TAGS_ARE_PROTECTED', change);
  if (!ref.startsWith('refs/heads/')) return refuse('NOT_A_BRANCH', change);
  const inAgentNamespace = lower === 'refs/heads/agent' || lower.startsWith('refs/heads/agent/');

  switch (principal.type) {
    case 'agent': {
      // The id must be a canonical UUID: anything else could widen the prefix (`x/..`, `*`, empty).
      if (!isUuid(principal.id)) return refuse('OUTSIDE_OWN_AGENT_NAMESPACE', change);
      const own = `refs/heads/agent/${principal.id}/`;
      if (!ref.startsWith(own) || ref.length === own.length) return refuse('OUTSIDE_OWN_AGENT_NAMESPACE', change);
      return { ref, change, allowed: true };
    }
    case 'human':
      if (inAgentNamespace) return refuse('AGENT_NAMESPACE_IS_RESERVED', change);
      return { ref, change, allowed: true };
    default: {
      const _exhaustive: never = principal;
      return _exhaustive;
    }
  }
}

function classify(update: RefUpdate): RefChange | null {
  const { oldSha, newSha, isFastForward } = update;
  if (!isObjectId(oldSha) || !isObjectId(newSha) || typeof isFastForward !== 'boolean') return null;
  if (oldSha === ZERO_OID && newSha === ZERO_OID) return null;
  if (oldSha === ZERO_OID) return 'create';
  if (newSha === ZERO_OID) return 'delete';
  return isFastForward ? 'update' : 'force-update';
}

/** git has already applied check-ref-format; this only keeps odd input out of the decision and the message. */
function wellFormedRef(ref: string): boolean {
  return (
    ref.length <= 1024 &&
    /^refs\/[\x21-\x7e]+$/.test(ref) &&
    !ref.includes('..') &&
    !ref.includes('//') &&
    !ref.endsWith('/') &&
    !ref.endsWith('.lock')
  );
}

function printable(ref: unknown): string {
  return String(ref).replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
