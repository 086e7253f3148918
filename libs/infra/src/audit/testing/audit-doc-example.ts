import { auditKeysJwks } from '../audit-keys';
import type { StoredEvent } from '../canonical-event';
import { canonicalEventJson } from '../canonical-event';
import { type CheckpointSigner, checkpointSigningInput } from '../checkpoint';
import { auditExportRecords, exportLine } from '../export-format';
import { chainOf, emptyChain, extendChain } from '../hash-chain';
import { rfc8032PublicKey } from './audit-test-kit';

/**
 * The worked example of docs/audit-export.md, built by the code it documents. Ed25519 signatures are deterministic,
 * so with the RFC 8032 test key every value is fixed; a test keeps the document and this in step.
 */

export const EXAMPLE_ORG = '01937f4e-8a2c-7d3e-9b10-4c5d6e7f8a9b';

export const exampleEvents: StoredEvent[] = [
  {
    position: '1041',
    transactionId: '90211',
    id: '01937f4e-9d00-7a11-8c22-0a1b2c3d4e5f',
    streamId: 'task-01937f4e-9c00-7b01-8a02-112233445566',
    revision: '0',
    type: 'TaskCreated',
    orgId: EXAMPLE_ORG,
    data: { title: { c: 'gAAAAABnQm9uZHM', k: 2 }, priority: 'high' },
    metadata: {
      orgId: EXAMPLE_ORG,
      actor: { type: 'human', id: '01937f4e-0001-7000-8000-000000000001' },
      occurredAt: '2026-11-25T12:00:00.123Z',
      schemaVersion: 1,
    },
    // As `select recorded_at` returns it in a session whose TimeZone is Europe/Paris.
    recordedAt: '2026-11-25 13:00:00.123456+01',
  },
  {
    position: '1043',
    transactionId: '90214',
    id: '01937f4e-9d01-7a11-8c22-0a1b2c3d4e5f',
    streamId: 'task-01937f4e-9c00-7b01-8a02-112233445566',
    revision: '1',
    type: 'TaskAssigned',
    orgId: EXAMPLE_ORG,
    data: { assignee: '01937f4e-0002-7000-8000-000000000002' },
    metadata: {
      orgId: EXAMPLE_ORG,
      actor: { type: 'agent', id: '01937f4e-0002-7000-8000-000000000002' },
      occurredAt: '2026-11-25T12:00:05.000Z',
      schemaVersion: 1,
    },
    recordedAt: '2026-11-25 12:00:05.000917+00',
  },
];

export const EXAMPLE_EXPORTED_AT = new Date('2026-11-26T09:30:00.000Z');
export const EXAMPLE_SIGNATURE = 'HRoDt2g3jx_s-e1h-QuqF3Er0lxcCGsnJohRHfn2h5pLPjGaoshhuWugnEstS5prcUvO0SOwU4K_YhXcE_MBDQ';

export async function docExample() {
  const key = rfc8032PublicKey(new Date('2026-01-01T00:00:00.000Z'));
  const chain = chainOf(EXAMPLE_ORG);
  const { links, state } = extendChain(emptyChain(chain), exampleEvents);
  const lines: string[] = [];
  // The document's signature was made once with the RFC 8032 TEST 1 key, whose private half stays out of the
  // repository: the example replays it, and the doc test verifies it against the public key.
  const sign: CheckpointSigner = (statement) => ({ ...statement, keyId: key.kid, signature: EXAMPLE_SIGNATURE });
  const records = auditExportRecords({ from: emptyChain(chain), events: exampleEvents, sign, now: () => EXAMPLE_EXPORTED_AT });
  for await (const record of records) lines.push(exportLine(record));
  const final = JSON.parse(lines.at(-1)!) as { kind: string; signature: string } & Parameters<typeof checkpointSigningInput>[0];
  return {
    key,
    chain,
    state,
    canonical: exampleEvents.map((event) => canonicalEventJson(event)),
    heads: links.map((link) => link.chainHash),
    signingInput: checkpointSigningInput(final).toString('utf8'),
    signature: final.signature,
    jwks: JSON.stringify(auditKeysJwks([key]), null, 2),
    lines,
  };
}
