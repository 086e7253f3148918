import { isPersonalToken, parsePersonalToken } from './personal-token';
import { openPersonal, type PersonalBinding, type PersonKey } from './seal-personal';

/** A personal value as a reader may show it: the plaintext, or nothing and the fact that it was erased. */
export type Revealed = { readonly value: string | null; readonly erased: false } | { readonly value: null; readonly erased: true };

/** The subjects whose keys these values need (non-tokens and malformed tokens need none). */
export function personalSubjectsOf(values: Iterable<unknown>): Set<string> {
  const subjects = new Set<string>();
  for (const value of values) {
    if (!isPersonalToken(value)) continue;
    try {
      subjects.add(parsePersonalToken(value).subject);
    } catch {
      // Shown as erased by revealPersonal.
    }
  }
  return subjects;
}

/**
 * Opens a stored personal value with the keys that exist now ({@link PersonKeyService.keysOf}). Null stays null; a
 * value written before personal data was sealed is shown as stored. A token whose person has no key — erased — or
 * that does not open under its binding is shown as erased, never as an error: an audit page must still render.
 */
export function revealPersonal(keys: ReadonlyMap<string, PersonKey>, stored: unknown, binding: PersonalBinding | null): Revealed {
  if (stored === null || stored === undefined) return { value: null, erased: false };
  if (!isPersonalToken(stored)) return { value: typeof stored === 'string' ? stored : JSON.stringify(stored), erased: false };
  if (binding === null) return { value: null, erased: true };
  try {
    const key = keys.get(parsePersonalToken(stored).subject);
    if (key === undefined) return { value: null, erased: true };
    return { value: openPersonal(key, stored, binding), erased: false };
  } catch {
    return { value: null, erased: true };
  }
}
