import { type Config, hostPortOf } from '@bastion/infra/config/config';
import { fromProjectRoot } from '@bastion/infra/config/project-root';
import type { GcpKmsClientOptions } from '@bastion/infra/crypto/kms';
import { grpc } from 'google-gax';

/**
 * The KMS settings of this process, from the validated configuration (`KMS_LOCAL_DIR`, `KMS_PLATFORM_KEY`,
 * `DATA_KEY_TTL_SECONDS`, `GCP_KMS_ENDPOINT`, `GOOGLE_APPLICATION_CREDENTIALS`; see config.ts):
 *
 * - the local KMS keyring directory, relative to the project root unless absolute;
 * - Google Cloud KMS only when `GOOGLE_APPLICATION_CREDENTIALS` is set (Application Default Credentials read that
 *   file), or `GCP_KMS_ENDPOINT` names an endpoint: on a loopback host it is spoken to in plaintext with no
 *   credentials — the gRPC KMS test server — anywhere else over TLS with ADC.
 */
export interface KmsSettings {
  readonly localDir: string;
  readonly platformKeyRef: string;
  readonly ttlSeconds: number;
  /** Client options for Google Cloud KMS, or null when this deployment has none. */
  readonly gcp: GcpKmsClientOptions | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function kmsSettingsOf(config: Config): KmsSettings {
  const dir = config.KMS_LOCAL_DIR;
  return {
    localDir: fromProjectRoot(dir),
    platformKeyRef: config.KMS_PLATFORM_KEY,
    ttlSeconds: config.DATA_KEY_TTL_SECONDS,
    gcp: gcpClientOptions(config.GCP_KMS_ENDPOINT, config.GOOGLE_APPLICATION_CREDENTIALS),
  };
}

function gcpClientOptions(endpoint: string | undefined, credentialsFile: string | undefined): GcpKmsClientOptions | null {
  if (endpoint === undefined) return credentialsFile === undefined ? null : {};
  const parsed = hostPortOf(endpoint);
  // The configuration refused anything else at start-up; a Config built by hand is checked again here.
  if (parsed === null) throw new Error(`GCP_KMS_ENDPOINT must be host:port (got ${JSON.stringify(endpoint)}).`);
  const { host, port } = parsed;
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
