/**
 * The one AAD scheme for sensitive fields (DESIGN §9): a ciphertext opens only for the org, record and field it
 * was sealed for, so it cannot be copied into another org's row, another record, or another column of the same
 * record. The same bytes are bound whether the token sits in an event or, unchanged, in a read model.
 */
export interface FieldAad {
  readonly orgId: string;
  /** The record's stable id, e.g. a task id; not a table row number that a replay could change. */
  readonly record: string;
  /** The field's name in the event schema, e.g. `task.body`; stays the same in every place the token is copied. */
  readonly field: string;
}

const LABEL = 'bastion/field-aad/v1';

/**
 * Canonical, unambiguous encoding: a label, then each part as a 4-byte big-endian length and its UTF-8 bytes.
 * Length prefixes make it injective (no `a|b` + `c` = `a` + `b|c`), and the key version is bound too, so a token's
 * visible version label cannot be edited to send a reader to another DEK.
 */
export function encodeFieldAad(aad: FieldAad, keyVersion: number): Buffer {
  const parts = [LABEL, String(keyVersion), part(aad.orgId, 'orgId'), part(aad.record, 'record'), part(aad.field, 'field')];
  return Buffer.concat(
    parts.flatMap((text) => {
      const bytes = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return [length, bytes];
    }),
  );
}

function part(value: string, name: keyof FieldAad): string {
  if (typeof value !== 'string' || value.length === 0) throw new RangeError(`AAD ${name} must be a non-empty string.`);
  assertWellFormed(value, `AAD ${name}`);
  return value;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * UTF-8 encoding turns every lone surrogate into U+FFFD, so two different strings would encode alike (an AAD
 * collision) or a plaintext would come back changed. Refuse them instead.
 */
export function assertWellFormed(value: string, what: string): void {
  if (LONE_SURROGATE.test(value)) throw new RangeError(`${what} is not well-formed Unicode (lone surrogate).`);
}
