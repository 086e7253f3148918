import type { SendMailOptions } from 'nodemailer';
import type { OutgoingMail } from './mail.port';

export class InvalidRecipientError extends Error {
  readonly code = 'MAIL.INVALID_RECIPIENT';
  constructor() {
    // The address stays out of the message: errors are logged, and addresses are personal data.
    super('The recipient must be exactly one bare email address.');
    this.name = 'InvalidRecipientError';
  }
}

// One addr-spec and nothing nodemailer's address parser would read as a second recipient, a group or a comment.
const BARE_ADDRESS = /^[^\s@<>,;:"()[\]\\\p{Cc}]{1,64}@[^\s@<>,;:"()[\]\\\p{Cc}]{1,255}$/u;

/** The nodemailer message for one outgoing mail, shared by every adapter so they render the same MIME. */
export function toNodemailerMessage(message: OutgoingMail, from: string): SendMailOptions {
  const to = message.to.trim();
  if (!BARE_ADDRESS.test(to)) throw new InvalidRecipientError();
  return {
    from,
    to,
    subject: message.subject,
    text: message.text,
    ...(message.html === undefined ? {} : { html: message.html }),
  };
}
