import { personalSubjectsOf, revealPersonal } from '../../libs/infra/src/crypto/person-keys';
import { PersonalData } from '../../apps/api/src/identity/personal-data/personal-data';
import type { TestApi } from './api';

/**
 * The IP address and user agent an event's metadata recorded, opened with the person keys of the test API (they are
 * stored only sealed, `pd1:…`). `erased` when a value was sealed but its person's key is gone.
 */
export async function requestDataOf(
  api: TestApi,
  metadata: { ip?: unknown; userAgent?: unknown; requestId?: unknown },
): Promise<{ ip: string | null; userAgent: string | null; erased: boolean }> {
  const personal = api.app.get(PersonalData, { strict: false });
  const keys = await personal.keys.keysOf(personal.transact, personalSubjectsOf([metadata.ip, metadata.userAgent]));
  const record = typeof metadata.requestId === 'string' ? metadata.requestId : null;
  const ip = revealPersonal(keys, metadata.ip, record ? { record, field: 'request.ip' } : null);
  const userAgent = revealPersonal(keys, metadata.userAgent, record ? { record, field: 'request.userAgent' } : null);
  return { ip: ip.value, userAgent: userAgent.value, erased: ip.erased || userAgent.erased };
}
