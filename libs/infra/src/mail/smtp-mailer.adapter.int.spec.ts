import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { ConfigError } from '../config/config';
import { InvalidRecipientError } from './outgoing-message';
import { parseEml } from './parse-eml';
import { MailDeliveryError, parseSmtpUrl, SmtpMailer } from './smtp-mailer.adapter';

interface Delivery {
  readonly mailFrom: string;
  readonly rcptTo: string[];
  readonly user: unknown;
  readonly secure: boolean;
  readonly raw: Buffer;
}

interface TestSmtpServer {
  readonly port: number;
  readonly deliveries: Delivery[];
  close(): Promise<void>;
}

/** A real SMTP server in this process, on a free loopback port. */
async function startSmtpServer(options: SMTPServerOptions): Promise<TestSmtpServer> {
  const deliveries: Delivery[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    ...options,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        deliveries.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          secure: session.secure,
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, deliveries, close: () => new Promise<void>((resolve) => server.close(resolve)) };
}

const FROM = 'Bastion <no-reply@bastion.test>';
const TOKEN = 'tok_3q2-7Yd9QmTz0b4Xc8fWJg1sKpLrVnEa';
// Longer than 76 characters, so the text part is quoted-printable with soft line breaks.
const LINK = `https://bastion.test/verify-email#token=${TOKEN}&and=a-long-enough-tail-to-need-wrapping`;
const message = {
  to: 'ada@example.org',
  subject: 'Verify your email for Bastion',
  text: `Confirm this address by opening ${LINK}\n\nThe link works once, for 24 hours.\n`,
  html: `<p><a href="${LINK}">Confirm this address</a></p>`,
};

describe('SmtpMailer against a real SMTP server', () => {
  let server: TestSmtpServer | undefined;
  let mailer: SmtpMailer | undefined;

  afterEach(async () => {
    mailer?.close();
    await server?.close();
    mailer = undefined;
    server = undefined;
  });

  it('delivers with the configured sender, the one recipient, the subject and both bodies', async () => {
    server = await startSmtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${server.port}`, from: FROM, requireTLS: false });

    await mailer.send(message);

    expect(server.deliveries).toHaveLength(1);
    const [delivery] = server.deliveries;
    expect(delivery!.mailFrom).toBe('no-reply@bastion.test');
    expect(delivery!.rcptTo).toEqual(['ada@example.org']);
    const parsed = parseEml(delivery!.raw);
    expect(parsed.headers.get('from')).toBe('Bastion <no-reply@bastion.test>');
    expect(parsed.to).toBe('ada@example.org');
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.text).toBe(message.text);
    expect(parsed.html).toBe(message.html);
  });

  it('carries a non-ASCII subject and body intact', async () => {
    server = await startSmtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${server.port}`, from: FROM, requireTLS: false });

    await mailer.send({ to: 'zoe@example.org', subject: 'Réinitialisez votre mot de passe — 🔑', text: 'Bonjour Zoë,\nvoici le lien.\n' });

    const parsed = parseEml(server.deliveries[0]!.raw);
    expect(parsed.subject).toBe('Réinitialisez votre mot de passe — 🔑');
    expect(parsed.text).toBe('Bonjour Zoë,\nvoici le lien.\n');
  });

  it('signs in with AUTH PLAIN from the user and password in SMTP_URL, percent-decoded', async () => {
    server = await startSmtpServer({
      authMethods: ['PLAIN'],
      authOptional: false,
      // No TLS in this test; a real relay would offer STARTTLS or implicit TLS before AUTH.
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.method === 'PLAIN' && auth.username === 'mailer@bastion.test' && auth.password === 'p@ss:w/rd') {
          callback(null, { user: auth.username });
        } else {
          callback(new Error('Invalid username or password'));
        }
      },
    });
    mailer = new SmtpMailer({
      url: `smtp://mailer%40bastion.test:p%40ss%3Aw%2Frd@127.0.0.1:${server.port}`,
      from: FROM,
      requireTLS: false,
    });

    await mailer.send(message);

    expect(server.deliveries).toHaveLength(1);
    expect(server.deliveries[0]!.user).toBe('mailer@bastion.test');
    expect(server.deliveries[0]!.rcptTo).toEqual(['ada@example.org']);
  });

  it('fails with MailDeliveryError when the server refuses the credentials, naming neither password nor body', async () => {
    server = await startSmtpServer({
      authMethods: ['PLAIN'],
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (_auth, _session, callback) => callback(new Error('Invalid username or password')),
    });
    mailer = new SmtpMailer({ url: `smtp://mailer:wrong-secret@127.0.0.1:${server.port}`, from: FROM, requireTLS: false });

    const error = await mailer.send(message).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MailDeliveryError);
    expect((error as MailDeliveryError).code).toBe('MAIL.DELIVERY_FAILED');
    expect((error as Error).message).toMatch(/EAUTH/);
    expect((error as Error).message).not.toContain('wrong-secret');
    expect((error as Error).message).not.toContain(TOKEN);
    expect(server.deliveries).toHaveLength(0);
  });

  it('with requireTLS, refuses to send in clear text to a server that offers no STARTTLS', async () => {
    server = await startSmtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${server.port}`, from: FROM, requireTLS: true });

    const error = await mailer.send(message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MailDeliveryError);
    expect((error as Error).message).toMatch(/ETLS/);
    expect(server.deliveries).toHaveLength(0);
  });

  it('gives up after the greeting timeout on a server that never speaks', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${port}`, from: FROM, requireTLS: false, timeouts: { greetingMs: 300 } });
      const started = Date.now();
      await expect(mailer.send(message)).rejects.toBeInstanceOf(MailDeliveryError);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('refuses a recipient list before connecting', async () => {
    server = await startSmtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${server.port}`, from: FROM, requireTLS: false });

    for (const to of ['ada@example.org, eve@example.org', 'Ada <ada@example.org>', 'ada@example.org\r\nBcc: eve@example.org', 'not-an-address']) {
      await expect(mailer.send({ ...message, to })).rejects.toBeInstanceOf(InvalidRecipientError);
    }
    expect(server.deliveries).toHaveLength(0);
  });

  it('writes nothing of the message to stdout, stderr or the console while sending', async () => {
    server = await startSmtpServer({ disabledCommands: ['STARTTLS', 'AUTH'] });
    mailer = new SmtpMailer({ url: `smtp://127.0.0.1:${server.port}`, from: FROM, requireTLS: false });
    const written: string[] = [];
    const capture = (chunk: unknown) => (written.push(String(chunk)), true);
    const spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
        jest.spyOn(console, level).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' '))),
      ),
    ];
    try {
      await mailer.send(message);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(server.deliveries).toHaveLength(1);
    expect(written.join('\n')).not.toContain(TOKEN);
  });
});

describe('parseSmtpUrl', () => {
  it('takes TLS mode and default port from the scheme', () => {
    expect(parseSmtpUrl('smtp://mail.example.org')).toEqual({ host: 'mail.example.org', port: 587, secure: false });
    expect(parseSmtpUrl('smtps://mail.example.org')).toEqual({ host: 'mail.example.org', port: 465, secure: true });
    expect(parseSmtpUrl('smtp://[::1]:2525')).toEqual({ host: '::1', port: 2525, secure: false });
  });

  it('percent-decodes the credentials', () => {
    expect(parseSmtpUrl('smtps://apikey:s%2Fcr%40t@smtp.example.org:2465').auth).toEqual({ user: 'apikey', pass: 's/cr@t' });
  });

  it('refuses another scheme without echoing the URL, which may hold a password', () => {
    const error = (() => {
      try {
        parseSmtpUrl('https://user:hunter2@smtp.example.org');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('SMTP_URL must start with smtp:// or smtps://');
    expect((error as Error).message).not.toContain('hunter2');
  });
});
