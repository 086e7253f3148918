import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../config/config';
import { projectRoot } from '../config/project-root';
import { FileOutboxMailer } from './file-outbox-mailer.adapter';
import type { Mailer } from './mail.port';
import { SmtpMailer, type SmtpTimeouts } from './smtp-mailer.adapter';

/** The configuration keys the mailer reads; `Config` provides them (SMTP_REQUIRE_TLS and the timeouts are optional). */
export interface MailSettings {
  readonly NODE_ENV: 'development' | 'test' | 'production';
  readonly SMTP_URL?: string | undefined;
  /** For smtp:// URLs; defaults to true in production, where a link in clear text on the wire is a leaked link. */
  readonly SMTP_REQUIRE_TLS?: boolean | undefined;
  readonly MAIL_FROM?: string | undefined;
  /** Relative paths are taken from the project root, not the working directory. */
  readonly MAIL_OUTBOX?: string | undefined;
}

export const DEFAULT_MAIL_FROM = 'Bastion <no-reply@bastion.localhost>';
export const DEFAULT_MAIL_OUTBOX = '.data/mail';

/**
 * The composition root's one choice: SMTP when SMTP_URL is set, otherwise the file outbox — which production
 * refuses, since mail that silently lands on a server's disk is mail nobody receives.
 */
export function createMailer(settings: MailSettings, options: { timeouts?: Partial<SmtpTimeouts>; root?: string } = {}): Mailer {
  const from = settings.MAIL_FROM || DEFAULT_MAIL_FROM;
  if (settings.SMTP_URL) {
    return new SmtpMailer({
      url: settings.SMTP_URL,
      from,
      requireTLS: settings.SMTP_REQUIRE_TLS ?? settings.NODE_ENV === 'production',
      ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    });
  }
  if (settings.NODE_ENV === 'production') {
    throw new ConfigError(['SMTP_URL is required in production, where the file outbox (development and tests only) would deliver nothing']);
  }
  const outbox = settings.MAIL_OUTBOX || DEFAULT_MAIL_OUTBOX;
  return new FileOutboxMailer({ dir: isAbsolute(outbox) ? outbox : join(options.root ?? projectRoot(), outbox), from });
}
