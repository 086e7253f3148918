import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from '../../../config/project-root';

/** The Fernet spec's test vectors, read from the shared folder beside the repository (`<repo root>/../shared`). */

export interface GenerateVector {
  readonly token: string;
  readonly now: string;
  readonly iv: readonly number[];
  readonly src: string;
  readonly secret: string;
}

export interface VerifyVector {
  readonly token: string;
  readonly now: string;
  readonly ttl_sec: number;
  readonly src: string;
  readonly secret: string;
}

export interface InvalidVector {
  readonly desc: string;
  readonly token: string;
  readonly now: string;
  readonly ttl_sec: number;
  readonly secret: string;
}

export const FERNET_VECTOR_DIR = resolve(projectRoot(), '..', 'shared', 'testdata', 'fernet');

function load<T>(file: string): readonly T[] {
  const path = join(FERNET_VECTOR_DIR, file);
  if (!existsSync(path)) {
    throw new Error(
      `The Fernet spec vector ${path} is missing. The spec's generate.json, verify.json and invalid.json are ` +
        'expected in shared/testdata/fernet/ beside the repository checkout (<repo root>/../shared).',
    );
  }
  const vectors = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (!Array.isArray(vectors) || vectors.length === 0) throw new Error(`${path} holds no test vectors.`);
  return vectors as T[];
}

export const loadGenerateVectors = (): readonly GenerateVector[] => load('generate.json');
export const loadVerifyVectors = (): readonly VerifyVector[] => load('verify.json');
export const loadInvalidVectors = (): readonly InvalidVector[] => load('invalid.json');

/** A clock stopped at the instant a vector names. */
export const clockAt = (instant: string): (() => Date) => {
  const date = new Date(instant);
  if (Number.isNaN(date.getTime())) throw new Error(`Not an instant: ${instant}`);
  return () => date;
};
