import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTransport, type Transporter } from 'nodemailer';
import type { Mailer, OutgoingMail } from './mail.port';
import { toNodemailerMessage } from './outgoing-message';

export interface FileOutboxMailerOptions {
  /** Created (0700, with missing parents) on first send; an existing directory keeps its mode. */
  readonly dir: string;
  readonly from: string;
  readonly now?: () => Date;
}

/**
 * Development and tests: each message becomes one RFC 5322 `.eml` file, the same MIME an SMTP relay would
 * receive, readable by any mail client and by {@link readOutbox}. Files are 0600 and the directory 0700: the
 * messages hold working single-use links.
 */
export class FileOutboxMailer implements Mailer {
  private readonly composer: Transporter;
  private readonly now: () => Date;
  private lastTime = 0;

  constructor(private readonly options: FileOutboxMailerOptions) {
    this.now = options.now ?? (() => new Date());
    this.composer = createTransport({
      streamTransport: true,
      buffer: true,
      // RFC 5322 lines end in CRLF; the stream transport's default is LF.
      newline: 'windows',
      logger: false,
      disableFileAccess: true,
      disableUrlAccess: true,
      maxRecipients: 1,
    });
  }

  async send(message: OutgoingMail): Promise<void> {
    const mail = toNodemailerMessage(message, this.options.from);
    const { message: eml } = (await this.composer.sendMail(mail)) as { message: Buffer };
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    // `wx`: never overwrite, and never follow a symlink planted under the chosen name.
    await writeFile(join(this.options.dir, this.fileName()), eml, { mode: 0o600, flag: 'wx' });
  }

  /**
   * `<ISO 8601 basic time>-<random>.eml`: the basic format has no colons, which some file systems refuse, and
   * names sort in the order written; within one process the time never repeats, so "newest" is never a tie.
   */
  private fileName(): string {
    this.lastTime = Math.max(this.now().getTime(), this.lastTime + 1);
    const time = new Date(this.lastTime).toISOString().replace(/[-:]/g, '');
    return `${time}-${randomBytes(6).toString('hex')}.eml`;
  }
}
