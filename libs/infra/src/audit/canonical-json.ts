import { NotCanonicalJsonError } from './audit-errors';

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence per JSON value, so a hash or a signature over it
 * can be recomputed by anyone, in any language, from the parsed value alone.
 *
 * - no whitespace;
 * - literals as `null`, `true`, `false`;
 * - strings as ECMAScript's `JSON.stringify` writes them: `\b \t \n \f \r \" \\` escaped by name, other controls
 *   below U+0020 as `\u00xx` in lower-case hex, everything else (U+007F, U+2028, non-ASCII) as is;
 * - numbers as ECMAScript's Number-to-String (shortest round trip; `1e+21`, `1e-7`, `-0` as `0`);
 * - object members sorted by their names' UTF-16 code units, arrays in order;
 * - the whole as UTF-8.
 *
 * Values are held to I-JSON (RFC 7493), as RFC 8785 requires: a string with a lone surrogate, NaN or an infinity
 * is refused rather than written in some form another implementation would not reproduce. So is anything outside
 * the JSON data model (`undefined`, a function, a bigint, a Date, a Map, an array with holes): JSON.stringify would
 * quietly drop or convert those, and a hash over a silently changed value proves nothing.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | readonly JsonValue[] | JsonObject;
export interface JsonObject {
  readonly [member: string]: JsonValue;
}

/** The RFC 8785 form of `value`, as a string; {@link canonicalJsonBytes} for what is hashed or signed. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, '$', out, new Set());
  return out.join('');
}

/** The RFC 8785 form of `value`, UTF-8 encoded. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/** Whether `value` is JSON that {@link canonicalJson} accepts; the reason when it is not. */
export function jsonProblem(value: unknown): string | undefined {
  try {
    canonicalJson(value);
    return undefined;
  } catch (error) {
    if (error instanceof NotCanonicalJsonError) return error.message;
    throw error;
  }
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** By UTF-16 code units, as RFC 8785 §3.2.3 prescribes; `<` on strings compares exactly those, whatever the locale. */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function write(value: unknown, path: string, out: string[], ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      out.push(string(value, path));
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new NotCanonicalJsonError(path, `${String(value)} is not a JSON number`);
      // Number-to-String of ECMAScript, which RFC 8785 §3.2.2.3 adopts verbatim (String(-0) is "0").
      out.push(String(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    default:
      throw new NotCanonicalJsonError(path, `a ${typeof value} is not JSON`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (ancestors.has(value)) throw new NotCanonicalJsonError(path, 'the value contains itself');
  ancestors.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let index = 0; index < value.length; index++) {
      if (!Object.hasOwn(value, index)) throw new NotCanonicalJsonError(`${path}[${index}]`, 'an array hole is not JSON');
      if (index > 0) out.push(',');
      write(value[index], `${path}[${index}]`, out, ancestors);
    }
    out.push(']');
  } else {
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      throw new NotCanonicalJsonError(path, `a ${value.constructor?.name ?? 'non-plain object'} is not JSON`);
    }
    const record = value as Record<string, unknown>;
    out.push('{');
    let first = true;
    for (const name of Object.keys(record).sort(byCodeUnits)) {
      const memberPath = `${path}[${JSON.stringify(name)}]`;
      if (!first) out.push(',');
      first = false;
      out.push(string(name, memberPath), ':');
      write(record[name], memberPath, out, ancestors);
    }
    out.push('}');
  }
  ancestors.delete(value);
}

function string(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) throw new NotCanonicalJsonError(path, 'a string with a lone surrogate is not I-JSON');
  // For a well-formed string, JSON.stringify is the serialisation RFC 8785 §3.2.2.2 specifies, escape for escape.
  return JSON.stringify(value);
}
