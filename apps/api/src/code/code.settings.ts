import { type Config } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';

/** Where repositories live, and where the pre-receive hook asks (loopback: the API itself). */
export function reposRoot(config: Config): string {
  return fromProjectRoot(config.REPOS_ROOT);
}

export function hookUrl(config: Config): string {
  return config.GIT_HOOK_URL ?? `http://127.0.0.1:${config.PORT}/internal/git/pre-receive`;
}
