import { ConfigError } from '../config/config';
import { createMailer } from './create-mailer';
import { FileOutboxMailer } from './file-outbox-mailer.adapter';
import { SmtpMailer } from './smtp-mailer.adapter';

describe('createMailer', () => {
  it('sends through SMTP when SMTP_URL is set', () => {
    const mailer = createMailer({ NODE_ENV: 'production', SMTP_URL: 'smtps://relay:secret@smtp.example.org', MAIL_FROM: 'Bastion <no-reply@example.org>' });
    expect(mailer).toBeInstanceOf(SmtpMailer);
    (mailer as SmtpMailer).close();
  });

  it('writes to the file outbox without SMTP_URL outside production', () => {
    expect(createMailer({ NODE_ENV: 'development' }, { root: '/srv/bastion' })).toBeInstanceOf(FileOutboxMailer);
    expect(createMailer({ NODE_ENV: 'test', MAIL_OUTBOX: '/tmp/outbox' })).toBeInstanceOf(FileOutboxMailer);
  });

  it('refuses production without SMTP_URL, in one sentence', () => {
    const attempt = () => createMailer({ NODE_ENV: 'production', MAIL_OUTBOX: '/tmp/outbox' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      'Invalid configuration: SMTP_URL is required in production, where the file outbox (development and tests only) would deliver nothing.',
    );
  });

  it('refuses an SMTP_URL of another scheme', () => {
    expect(() => createMailer({ NODE_ENV: 'development', SMTP_URL: 'http://smtp.example.org' })).toThrow(ConfigError);
  });
});
