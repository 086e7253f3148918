import { isAbsolute, join } from 'node:path';
import { projectRoot } from '@bastion/infra/config/project-root';
import { DEFAULT_DATA_KEY_TTL_SECONDS } from '@bastion/infra/crypto/envelope';
import type { GcpKmsClientOptions } from '@bastion/infra/crypto/kms';
import { DEFAULT_PLATFORM_KEY_REF } from '@bastion/infra/crypto/org-keys';
import { grpc } from 'google-gax';

/**
 * KMS settings, read from the environment for now (to move into libs/infra/src/config/config.ts):
 *
 * - `KMS_LOCAL_DIR` — the local KMS keyring directory; default `.data/kms`, relative to the project root.
 * - `KMS_PLATFORM_KEY` — the key that wraps the DEK of orgs without their own; default `local://platform`.
 * - `DATA_KEY_TTL_SECONDS` — how long a plaintext DEK may stay in memory; default 30, 0 caches nothing.
 * - Google Cloud KMS is enabled only when `GOOGLE_APPLICATION_CREDENTIALS` is set (Application Default
 *   Credentials read that file), or `GCP_KMS_ENDPOINT` (`host:port`) names an endpoint: on a loopback host it is
 *   spoken to in plaintext with no credentials — the gRPC KMS test server — anywhere else over TLS with ADC.
 */
export interface KmsSettings {
  readonly localDir: string;
  readonly platformKeyRef: string;
  readonly ttlSeconds: number;
  /** Client options for Google Cloud KMS, or null when this deployment has none. */
  readonly gcp: GcpKmsClientOptions | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function kmsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): KmsSettings {
  const value = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const dir = value('KMS_LOCAL_DIR') ?? join('.data', 'kms');
  const ttlText = value('DATA_KEY_TTL_SECONDS');
  const ttlSeconds = ttlText === undefined ? DEFAULT_DATA_KEY_TTL_SECONDS : Number(ttlText);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > 3600) {
    throw new Error(`DATA_KEY_TTL_SECONDS must be a whole number of seconds from 0 to 3600 (got ${JSON.stringify(ttlText)}).`);
  }
  return {
    localDir: isAbsolute(dir) ? dir : join(projectRoot(), dir),
    platformKeyRef: value('KMS_PLATFORM_KEY') ?? DEFAULT_PLATFORM_KEY_REF,
    ttlSeconds,
    gcp: gcpClientOptions(value('GCP_KMS_ENDPOINT'), value('GOOGLE_APPLICATION_CREDENTIALS')),
  };
}

function gcpClientOptions(endpoint: string | undefined, credentialsFile: string | undefined): GcpKmsClientOptions | null {
  if (endpoint === undefined) return credentialsFile === undefined ? null : {};
  const match = /^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(endpoint);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`GCP_KMS_ENDPOINT must be host:port (got ${JSON.stringify(endpoint)}).`);
  const host = match[1]!;
  if (!LOOPBACK.has(host)) return { apiEndpoint: host, port };
  return {
    apiEndpoint: host.replace(/^\[|\]$/g, ''),
    port,
    sslCreds: grpc.credentials.createInsecure(),
    fallback: false,
    // With channel credentials given and a universe domain named, google-auth-library never looks for credentials
    // (nor probes the GCE metadata server).
    universeDomain: 'googleapis.com',
  };
}
