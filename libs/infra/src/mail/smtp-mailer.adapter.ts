import { createTransport, type Transporter } from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import { ConfigError } from '../config/config';
import type { Mailer, OutgoingMail } from './mail.port';
import { toNodemailerMessage } from './outgoing-message';

export interface SmtpTimeouts {
  /** To open the TCP (or TLS) connection. */
  readonly connectionMs: number;
  /** From connecting to the server's greeting. */
  readonly greetingMs: number;
  /** Of inactivity once connected. */
  readonly socketMs: number;
}

export interface SmtpMailerOptions {
  /** `smtp://[user:pass@]host[:port]` (STARTTLS when offered, port 587) or `smtps://…` (TLS from the start, port 465). */
  readonly url: string;
  /** The `From` of every message, e.g. `Bastion <no-reply@example.org>`. */
  readonly from: string;
  /** For `smtp://`: refuse to send unless the server upgrades the connection with STARTTLS. */
  readonly requireTLS: boolean;
  readonly timeouts?: Partial<SmtpTimeouts>;
}

// nodemailer's defaults (2 min to connect, 10 min idle) would hold a request, and the person waiting on it, far
// longer than any useful retry.
const DEFAULT_TIMEOUTS: SmtpTimeouts = { connectionMs: 10_000, greetingMs: 10_000, socketMs: 30_000 };

export class MailDeliveryError extends Error {
  readonly code = 'MAIL.DELIVERY_FAILED';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`The mail server did not accept the message (${reason}).`, options);
    this.name = 'MailDeliveryError';
  }
}

/** Host, port, TLS mode and credentials from an SMTP URL; the URL itself never appears in an error, as it may hold a password. */
export function parseSmtpUrl(url: string): Pick<SMTPTransportOptions, 'host' | 'port' | 'secure' | 'auth'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(['SMTP_URL is not a URL']);
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new ConfigError([`SMTP_URL must start with smtp:// or smtps:// (got ${parsed.protocol}//)`]);
  }
  if (!parsed.hostname) throw new ConfigError(['SMTP_URL names no host']);
  const secure = parsed.protocol === 'smtps:';
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  return {
    // URL keeps the brackets of an IPv6 literal; the socket wants the bare address.
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    ...(user ? { auth: { user, pass } } : {}),
  };
}

/** Sends through an SMTP relay (the production adapter). */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(private readonly options: SmtpMailerOptions) {
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.transport = createTransport({
      ...parseSmtpUrl(options.url),
      requireTLS: options.requireTLS,
      connectionTimeout: timeouts.connectionMs,
      greetingTimeout: timeouts.greetingMs,
      socketTimeout: timeouts.socketMs,
      // nodemailer's logger and debug mode print the SMTP transcript, message data and AUTH exchange included.
      logger: false,
      debug: false,
      transactionLog: false,
      disableFileAccess: true,
      disableUrlAccess: true,
      maxRecipients: 1,
    });
  }

  async send(message: OutgoingMail): Promise<void> {
    const mail = toNodemailerMessage(message, this.options.from);
    try {
      await this.transport.sendMail(mail);
    } catch (error) {
      const e = error as { code?: unknown; responseCode?: unknown };
      const reason = [e.code, e.responseCode].filter((part) => part !== undefined).join(' ') || 'unknown error';
      throw new MailDeliveryError(String(reason), { cause: error });
    }
  }

  close(): void {
    this.transport.close();
  }
}
