import { dropRunDatabases } from './database';

export default async function globalTeardown(): Promise<void> {
  await dropRunDatabases(process.env.BASTION_TEST_RUN_ID!);
}
