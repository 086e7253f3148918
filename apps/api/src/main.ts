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
    await app.listen(config.PORT, config.HOST);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new StartupError(`Port ${config.PORT} is already in use on ${config.HOST}; set PORT.`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new StartupError(`HOST ${JSON.stringify(config.HOST)} is not an address of this machine; set HOST (default 127.0.0.1).`);
    }
    throw error;
  }
  logger.info('api listening', { host: config.HOST, port: config.PORT });
}

runMain('api', main);
