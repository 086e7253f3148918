import { Inject, Injectable } from '@nestjs/common';
import { type NewEvent, toNewEvents } from '@bastion/domain';
import {
  type DataKey,
  decryptField,
  encryptField,
  FieldIntegrityError,
  FieldKeyVersionMismatchError,
  FieldTokenMalformedError,
  fieldTokenKeyVersion,
} from '@bastion/infra/crypto/envelope';
import { KeyRefInvalidError, KeyRevokedError, KeyUnavailableError, KmsIntegrityError } from '@bastion/infra/crypto/kms';
import { OrgKeyMissingError, type OrgKeyService, type Transact, type WrappedOrgKey } from '@bastion/infra/crypto/org-keys';
import type { JsonLogger } from '@bastion/infra/runtime/logger';
import type { PoolClient } from 'pg';
import { type BastionRequest, commandContext } from '../auth/request-context';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { LOGGER } from '../tokens';
import { keyProblem } from './key-problems';
import { ORG_KEY_SERVICE } from './security.tokens';

/**
 * Where the sensitive fields sit in events (DESIGN §9): the one catalogue the API seals by. Each field is sealed
 * once, at the command, under the org's DEK with AAD binding org, `record` and `field`; the same token then goes
 * into the event and, copied unchanged by the projector, into the read model.
 *
 * A merge-request comment has no id of its own: its record is the id of the event that carries it.
 */
export const SEALED_FIELDS = {
  taskDescription: 'task.description',
  mergeRequestDescription: 'mr.description',
  mergeRequestComment: 'mr.comment.body',
} as const;

interface SealedEventField {
  readonly path: string;
  readonly field: string;
  readonly record: (event: NewEvent) => string;
}

const dataOf = (event: NewEvent, name: string): string => String((event.data as Record<string, unknown>)[name]);

export const SEALED_EVENT_FIELDS: Readonly<Record<string, readonly SealedEventField[]>> = {
  TaskCreated: [{ path: 'description', field: SEALED_FIELDS.taskDescription, record: (e) => dataOf(e, 'taskId') }],
  TaskUpdated: [{ path: 'description', field: SEALED_FIELDS.taskDescription, record: (e) => dataOf(e, 'taskId') }],
  MergeRequestOpened: [{ path: 'description', field: SEALED_FIELDS.mergeRequestDescription, record: (e) => dataOf(e, 'mrId') }],
  MergeRequestCommented: [{ path: 'body', field: SEALED_FIELDS.mergeRequestComment, record: (e) => e.id }],
};

/** Seals fields under one org's DEK, with no I/O: made before a command's transaction, used inside it. */
export interface FieldSealer {
  readonly orgId: string;
  seal(record: string, field: string, plaintext: string): string;
}

/**
 * An empty field stays empty: it hides nothing (a token's length shows the plaintext's anyway), and a record
 * whose key is withdrawn still shows that it has no description.
 */
export function sealerWith(orgId: string, dataKey: DataKey): FieldSealer {
  const org = orgId.toLowerCase();
  return {
    orgId: org,
    seal: (record, field, plaintext) => (plaintext === '' ? '' : encryptField(dataKey, plaintext, { orgId: org, record, field })),
  };
}

/**
 * The events as they will be appended: every catalogued field sealed. Refuses (rather than append plaintext) when
 * an event carries a sensitive field and no sealer, or a sealer of another org, was given.
 */
export function sealEvents<E extends NewEvent>(events: readonly E[], sealer: FieldSealer | undefined): E[] {
  return events.map((event) => {
    const rules = SEALED_EVENT_FIELDS[event.type];
    if (rules === undefined) return event;
    const data = { ...(event.data as Record<string, unknown>) };
    for (const rule of rules) {
      const value = data[rule.path];
      if (value === undefined) continue;
      if (typeof value !== 'string') throw new TypeError(`${event.type}.${rule.path} is not a string.`);
      if (value === '') continue;
      if (sealer === undefined) throw new Error(`${event.type} carries ${rule.field}, which must be sealed: no sealer was given.`);
      if (event.metadata.orgId?.toLowerCase() !== sealer.orgId) throw new Error(`${event.type} of another organisation than the sealer's.`);
      data[rule.path] = sealer.seal(rule.record(event), rule.field, value);
    }
    return { ...event, data } as E;
  });
}

/** A sealed field in a read model: its token and the binding it was sealed with. */
export interface SealedRef {
  readonly record: string;
  readonly field: string;
  readonly token: string;
}

/** Why a field of a list could not be shown; the rest of the record still is. */
export type FieldUnavailable = 'key-revoked' | 'kms-unavailable' | 'undecryptable';

export type OpenedField = { readonly value: string; readonly unavailable: null } | { readonly value: null; readonly unavailable: FieldUnavailable };

/** The wrapped DEKs a read's tokens need, read in the read's own transaction (or why each cannot be had). */
export type PrefetchedKeys = ReadonlyMap<number, WrappedOrgKey | Error>;

/**
 * Sensitive fields for the API's commands and queries (DESIGN §9). Commands get a {@link FieldSealer} before their
 * transaction (the DEK may need a KMS call, which no open transaction may wait on) and seal through
 * {@link sealEvents}. Queries open what they read after their transaction: one record fails closed with the key's
 * problem (`key-revoked` 409…), a list shows every other field and marks the sealed ones unavailable.
 */
@Injectable()
export class SealedFields {
  constructor(
    private readonly db: SessionDatabase,
    @Inject(ORG_KEY_SERVICE) private readonly keys: OrgKeyService,
    @Inject(LOGGER) private readonly logger: JsonLogger,
  ) {}

  /**
   * A sealer under the org's current DEK, checked against `requirement` as the command's own transaction will be.
   * An org without a DEK (created before keys existed, or whose creation could not reach the KMS) gets one now when
   * the caller may create it (org:security); anyone else is told to ask an Admin.
   */
  async sealerFor(req: BastionRequest, orgId: string): Promise<FieldSealer> {
    const principal = req.principal!;
    try {
      const dataKey = await this.keys.dataKeyFor(this.transact(req, orgId), orgId);
      return sealerWith(orgId, dataKey);
    } catch (error) {
      if (!(error instanceof OrgKeyMissingError)) throw keyProblem(error) ?? error;
    }
    if (principal.type !== 'human') throw noDataKey();
    try {
      const dataKey = await this.keys.ensureDataKey((work) => this.db.inOrgAlsoRequiring(req, orgId, 'org:security', work), orgId, (event) =>
        toNewEvents([event], commandContext(req, { orgId }))[0]!,
      );
      return sealerWith(orgId, dataKey);
    } catch (error) {
      if (error instanceof ProblemError && error.problem.status === 403) throw noDataKey();
      throw keyProblem(error) ?? error;
    }
  }

  /**
   * Inside a read's own transaction, database only: the wrapped DEKs its tokens need, with the org's emergency stop
   * checked. Handed to {@link openOne} / {@link openEach} after commit, it saves them a transaction of their own.
   */
  async wrappedKeysIn(tx: PoolClient, orgId: string, tokens: readonly string[]): Promise<PrefetchedKeys> {
    const versions = new Set<number>();
    for (const token of tokens) {
      if (token === '') continue;
      try {
        versions.add(fieldTokenKeyVersion(token));
      } catch {
        // Reported for its field when it is opened.
      }
    }
    const found = new Map<number, WrappedOrgKey | Error>();
    for (const version of versions) {
      try {
        found.set(version, await this.keys.wrappedKey(tx, orgId, version));
      } catch (error) {
        if (!isKeyFailure(error)) throw error;
        found.set(version, error as Error);
      }
    }
    return found;
  }

  /** Opens one record's fields, in order, or fails closed: `key-revoked` (409), `kms-unavailable` (503)… */
  async openOne(req: BastionRequest, orgId: string, refs: readonly SealedRef[], prefetched?: PrefetchedKeys): Promise<string[]> {
    const opened = await this.#open(req, orgId, refs, prefetched);
    return opened.map((result, i) => {
      if (!(result instanceof Error)) return result;
      if (isUndecryptable(result)) {
        this.#reportUndecryptable(orgId, refs[i]!, result);
        throw undecryptable();
      }
      // The DEK is wrapped under a KMS this process has no adapter for: to the reader, the KMS is unavailable.
      if (result instanceof KeyRefInvalidError) throw keyProblem(new KeyUnavailableError(result.keyRef, 'no adapter for this key'))!;
      throw keyProblem(result) ?? result;
    });
  }

  /** Opens each field it can; the others come back as `{ value: null, unavailable }`. Never fails for a key. */
  async openEach(req: BastionRequest, orgId: string, refs: readonly SealedRef[], prefetched?: PrefetchedKeys): Promise<OpenedField[]> {
    const opened = await this.#open(req, orgId, refs, prefetched);
    return opened.map((result, i) => {
      if (!(result instanceof Error)) return { value: result, unavailable: null };
      if (result instanceof KeyRevokedError) return { value: null, unavailable: 'key-revoked' };
      if (result instanceof KeyUnavailableError || result instanceof KeyRefInvalidError) return { value: null, unavailable: 'kms-unavailable' };
      this.#reportUndecryptable(orgId, refs[i]!, result);
      return { value: null, unavailable: 'undecryptable' };
    });
  }

  /** Plaintext, or the key or envelope failure of each ref; anything else (the database, a refusal) is thrown. */
  async #open(
    req: BastionRequest,
    orgId: string,
    refs: readonly SealedRef[],
    prefetched: PrefetchedKeys | undefined,
  ): Promise<(string | Error)[]> {
    const org = orgId.toLowerCase();
    const versions = new Map<number, Promise<DataKey | Error>>();
    const keyFor = (version: number): Promise<DataKey | Error> => {
      let pending = versions.get(version);
      if (pending === undefined) {
        const wrapped = prefetched?.get(version);
        if (wrapped instanceof Error) return Promise.resolve(wrapped);
        const load =
          wrapped === undefined
            ? this.keys.dataKeyFor(this.transact(req, orgId), orgId, version)
            : this.keys.unwrapFor(orgId, wrapped);
        pending = load.catch((error: unknown): Error => {
          if (isKeyFailure(error)) return error as Error;
          throw error;
        });
        versions.set(version, pending);
      }
      return pending;
    };
    return Promise.all(
      refs.map(async (ref): Promise<string | Error> => {
        if (ref.token === '') return '';
        let version: number;
        try {
          version = fieldTokenKeyVersion(ref.token);
        } catch (error) {
          return error as Error;
        }
        const dataKey = await keyFor(version);
        if (dataKey instanceof Error) return dataKey;
        try {
          return decryptField(dataKey, ref.token, { orgId: org, record: ref.record, field: ref.field });
        } catch (error) {
          if (isUndecryptable(error)) return error as Error;
          throw error;
        }
      }),
    );
  }

  #reportUndecryptable(orgId: string, ref: SealedRef, error: Error): void {
    // Ids and the error's code only: never the token.
    this.logger.event('warn', 'a sealed field does not open', {
      orgId,
      record: ref.record,
      field: ref.field,
      code: (error as { code?: string }).code ?? error.name,
    });
  }

  /** Transactions checked against the route's declared requirement, as the command's own transaction is. */
  private transact(req: BastionRequest, orgId: string): Transact {
    return (work) => this.db.inOrg(req, orgId, work);
  }
}

function isUndecryptable(error: unknown): boolean {
  return (
    error instanceof FieldIntegrityError ||
    error instanceof FieldTokenMalformedError ||
    error instanceof FieldKeyVersionMismatchError ||
    error instanceof KmsIntegrityError ||
    error instanceof OrgKeyMissingError
  );
}

function isKeyFailure(error: unknown): boolean {
  return error instanceof KeyRevokedError || error instanceof KeyUnavailableError || error instanceof KeyRefInvalidError || isUndecryptable(error);
}

function noDataKey(): ProblemError {
  return new ProblemError({
    type: problemType('no-data-key'),
    title: 'the organisation has no data key yet',
    status: 409,
    detail: 'An Admin of the organisation creates it with their next write (or at organisation creation).',
  });
}

/** A stored token that does not open under the org's key and its binding: moved, altered, or not a token. */
function undecryptable(): ProblemError {
  return new ProblemError({
    type: problemType('field-undecryptable'),
    title: 'a stored field does not open under the organisation’s key',
    status: 500,
  });
}
