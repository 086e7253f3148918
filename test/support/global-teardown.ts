import { rmSync } from 'node:fs';
import { dropRunDatabases } from './database';

export default async function globalTeardown(): Promise<void> {
  await dropRunDatabases(process.env.BASTION_TEST_RUN_ID!);
  // The run's local KMS (global-setup.ts), made only when KMS_LOCAL_DIR was not given.
  if (process.env.BASTION_TEST_KMS_DIR) rmSync(process.env.BASTION_TEST_KMS_DIR, { recursive: true, force: true });
}
