import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileOutboxMailer } from './file-outbox-mailer.adapter';
import { InvalidRecipientError } from './outgoing-message';
import { parseEml } from './parse-eml';
import { readOutbox } from './read-outbox';

const FROM = 'Bastion <no-reply@bastion.test>';
const LINK = 'https://bastion.test/reset-password#token=tok_Zr8-Qm2Lp0WvXy4Tb7Hc1NsKdEaFgJ&and=a-long-enough-tail-to-need-wrapping';
const message = {
  to: 'ada@example.org',
  subject: 'Réinitialisez votre mot de passe — Bastion',
  text: `Reset your password by opening ${LINK}\n\nThe link works once, for 30 minutes.\n`,
  html: `<p><a href="${LINK}">Reset your password</a></p>`,
};

describe('FileOutboxMailer', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'bastion-outbox-'));
    dir = join(root, 'not', 'yet', 'there');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the directory 0700 and writes one 0600 .eml file per message, named by time and a random part', async () => {
    const mailer = new FileOutboxMailer({ dir, from: FROM, now: () => new Date('2030-01-02T03:04:05.678Z') });

    await mailer.send(message);
    await mailer.send(message);

    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'not'))).mode & 0o777).toBe(0o700);
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^20300102T030405\.678Z-[0-9a-f]{12}\.eml$/);
    // The same clock reading twice still gives names in the order written.
    expect(files[1]).toMatch(/^20300102T030405\.679Z-[0-9a-f]{12}\.eml$/);
    for (const file of files) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
  });

  it('writes a MIME message with CRLF line ends, the usual headers and both bodies', async () => {
    await new FileOutboxMailer({ dir, from: FROM }).send(message);

    const [file] = await readdir(dir);
    const raw = await readFile(join(dir, file!));
    const text = raw.toString('latin1');
    expect(text).not.toMatch(/[^\r]\n/);
    expect(text).toMatch(/^From: Bastion <no-reply@bastion\.test>\r$/m);
    expect(text).toMatch(/^To: ada@example\.org\r$/m);
    expect(text).toMatch(/^Message-ID: <[^>]+@bastion\.test>\r$/m);
    expect(text).toMatch(/^Date: .+\r$/m);
    expect(text).toMatch(/^MIME-Version: 1\.0\r$/m);
    expect(text).toMatch(/^Content-Type: multipart\/alternative;/m);

    const parsed = parseEml(raw);
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toBe(message.html);
  });

  it('lets readOutbox find the newest message for a recipient, ignoring case', async () => {
    const mailer = new FileOutboxMailer({ dir, from: FROM });
    await mailer.send({ ...message, subject: 'first' });
    await mailer.send({ ...message, to: 'eve@example.org', subject: 'for eve' });
    await mailer.send({ ...message, subject: 'second' });
    await mailer.send({ ...message, to: 'eve@example.org', subject: 'for eve again' });

    const found = await readOutbox(dir, { to: 'Ada@Example.org' });

    expect(found).toMatchObject({ to: 'ada@example.org', subject: 'second', text: message.text, html: message.html });
    expect(found!.file.startsWith(dir)).toBe(true);
    expect(found!.text).toContain(LINK);
  });

  it('has readOutbox answer undefined for an unknown recipient or a missing directory', async () => {
    await new FileOutboxMailer({ dir, from: FROM }).send(message);

    await expect(readOutbox(dir, { to: 'nobody@example.org' })).resolves.toBeUndefined();
    await expect(readOutbox(join(root, 'missing'), { to: 'ada@example.org' })).resolves.toBeUndefined();
  });

  it('reads back a plain-text message without html', async () => {
    await new FileOutboxMailer({ dir, from: FROM }).send({ to: 'zoe@example.org', subject: 'Bonjour 🔑', text: 'Zoë\n' });

    const found = await readOutbox(dir, { to: 'zoe@example.org' });

    expect(found).toEqual({ file: expect.any(String), to: 'zoe@example.org', subject: 'Bonjour 🔑', text: 'Zoë\n' });
  });

  it('refuses a recipient list and writes nothing', async () => {
    const mailer = new FileOutboxMailer({ dir, from: FROM });

    await expect(mailer.send({ ...message, to: 'ada@example.org, eve@example.org' })).rejects.toBeInstanceOf(InvalidRecipientError);
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
