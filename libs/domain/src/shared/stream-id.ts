/** Stream ids are `<category>-<uuid>` (DESIGN §3). */
export const STREAM_CATEGORIES = [
  'user',
  'org',
  'agent',
  'repo',
  'mr',
  'task',
  'escalation',
  'llm-provider',
  'skill-request',
  'provider',
  // Alerts raised by the audit sealer.
  'audit',
  // A failed sign-in for an unknown account: a stream of its own, since there is no account to attach it to.
  'signin',
] as const;
export type StreamCategory = (typeof STREAM_CATEGORIES)[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function streamId(category: StreamCategory, id: string): string {
  if (!UUID.test(id)) throw new Error(`Stream ids take a lowercase UUID, got ${JSON.stringify(id)}`);
  return `${category}-${id}`;
}

export function parseStreamId(value: string): { category: StreamCategory; id: string } | null {
  for (const category of STREAM_CATEGORIES) {
    const prefix = `${category}-`;
    if (value.startsWith(prefix) && UUID.test(value.slice(prefix.length))) {
      return { category, id: value.slice(prefix.length) };
    }
  }
  return null;
}
