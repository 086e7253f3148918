/**
 * Outgoing email. Messages carry single-use links and tokens, so no adapter logs a subject's link, a body or a
 * rendered message; the sender (`From`) is adapter configuration, not part of a message.
 */
export interface OutgoingMail {
  /** Exactly one bare address (`ada@example.org`); a list or a display name is refused, never silently expanded. */
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
}

export interface Mailer {
  send(message: OutgoingMail): Promise<void>;
}

export const MAILER = Symbol('Mailer');
