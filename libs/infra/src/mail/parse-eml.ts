/**
 * Just enough of RFC 5322, 2045–2047 to read back what our own adapters write (nodemailer's output): unfolded
 * headers, encoded words, nested multiparts, quoted-printable and base64 bodies. Not a general-purpose parser;
 * `mailparser` would be one, and is not a dependency.
 */
export interface ParsedEml {
  /** Lower-cased names, unfolded and decoded values, first occurrence of each. */
  readonly headers: ReadonlyMap<string, string>;
  /** The bare address of the first `To` recipient. */
  readonly to: string;
  readonly subject: string;
  /** The first text/plain part (or the whole body of a single-part message), with LF line ends. */
  readonly text: string;
  readonly html?: string;
}

interface Entity {
  readonly headers: Map<string, string>;
  /** Raw octets of the body as a latin1 string, so byte values survive until the charset is known. */
  readonly body: string;
}

export function parseEml(raw: Buffer): ParsedEml {
  const root = parseEntity(raw.toString('latin1'));
  let text: string | undefined;
  let html: string | undefined;
  for (const leaf of leaves(root)) {
    if (/^attachment/i.test(leaf.headers.get('content-disposition') ?? '')) continue;
    const { type, params } = contentType(leaf);
    if (type === 'text/plain' && text === undefined) text = decodeBody(leaf, params.get('charset'));
    if (type === 'text/html' && html === undefined) html = decodeBody(leaf, params.get('charset'));
  }
  const to = root.headers.get('to') ?? '';
  return {
    headers: root.headers,
    to: (/<([^<>]+)>/.exec(to)?.[1] ?? to.split(',')[0] ?? '').trim(),
    subject: root.headers.get('subject') ?? '',
    text: text ?? '',
    ...(html === undefined ? {} : { html }),
  };
}

function parseEntity(raw: string): Entity {
  const separator = /\r?\n\r?\n/.exec(raw);
  const head = separator ? raw.slice(0, separator.index) : raw;
  const body = separator ? raw.slice(separator.index + separator[0].length) : '';
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    // Header octets beyond ASCII are UTF-8 (RFC 6532); encoded words carry their own charset.
    if (!headers.has(name)) headers.set(name, decodeWords(Buffer.from(line.slice(colon + 1).trim(), 'latin1').toString('utf8')));
  }
  return { headers, body };
}

function* leaves(entity: Entity): Generator<Entity> {
  const { type, params } = contentType(entity);
  const boundary = params.get('boundary');
  if (!type.startsWith('multipart/') || !boundary) {
    yield entity;
    return;
  }
  const open = `--${boundary}`;
  const close = `--${boundary}--`;
  let part: string[] | undefined;
  for (const line of entity.body.split(/\r?\n/)) {
    const trimmed = line.trimEnd();
    if (trimmed === open || trimmed === close) {
      if (part) yield* leaves(parseEntity(part.join('\r\n')));
      if (trimmed === close) return;
      part = [];
    } else {
      part?.push(line);
    }
  }
}

function contentType(entity: Entity): { type: string; params: Map<string, string> } {
  const value = entity.headers.get('content-type') ?? 'text/plain; charset=us-ascii';
  const [type = ''] = value.split(';', 1);
  const params = new Map<string, string>();
  for (const [, key, raw] of value.matchAll(/;\s*([^=\s;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)/g)) {
    params.set(key!.toLowerCase(), raw!.startsWith('"') ? raw!.slice(1, -1).replace(/\\(.)/g, '$1') : raw!);
  }
  return { type: type.trim().toLowerCase(), params };
}

function decodeBody(entity: Entity, charset = 'utf-8'): string {
  const encoding = (entity.headers.get('content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  const octets =
    encoding === 'base64'
      ? Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
      : encoding === 'quoted-printable'
        ? quotedPrintable(entity.body)
        : Buffer.from(entity.body, 'latin1');
  return decodeCharset(octets, charset).replace(/\r\n/g, '\n');
}

function quotedPrintable(body: string): Buffer {
  const unwrapped = body.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '');
  return Buffer.from(unwrapped.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`); whitespace between two of them is not text. */
function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)/g, '$1')
    .replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (_, charset: string, kind: string, data: string) => {
      const octets =
        kind.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : Buffer.from(
              data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            );
      return decodeCharset(octets, charset.split('*')[0]!);
    });
}

function decodeCharset(octets: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(octets);
  } catch {
    return octets.toString('utf8');
  }
}
