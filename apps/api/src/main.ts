import 'reflect-metadata';
import { loadConfig } from '@bastion/infra/config/config';
import { JsonLogger } from '@bastion/infra/runtime/logger';
import { runMain, StartupError } from '@bastion/infra/runtime/startup-error';
import { createApi } from './create-api';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = new JsonLogger('api', config.LOG_LEVEL);
  const app = await createApi(config, logger);
  try {
    await app.listen(config.PORT);
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new StartupError(`Port ${config.PORT} is already in use; set PORT.`);
    throw error;
  }
  logger.info('api listening', { port: config.PORT });
}

runMain('api', main);
