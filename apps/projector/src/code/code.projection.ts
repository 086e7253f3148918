import type {
  MergeRequestApproved,
  MergeRequestHeadUpdated,
  MergeRequestMerged,
  MergeRequestMergeFailed,
  MergeRequestOpened,
  RepositoryCreated,
  TestRunCompleted,
  TestRunRequested,
} from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

export const repositoriesProjection: Projection = {
  kind: 'projection',
  name: 'repositories',
  handles: ['RepositoryCreated'],
  tables: ['repositories'],
  async apply(tx, event) {
    const d = event.data as RepositoryCreated['data'];
    await tx.query('insert into repositories (org_id, repo_id, name, created_by, created_at) values ($1, $2, $3, $4, $5) on conflict do nothing', [
      d.orgId,
      d.repoId,
      d.name,
      event.metadata.actor.id,
      event.metadata.occurredAt,
    ]);
  },
};

/** Merge requests: state, head, approvals of the current head, test runs (their own table), and the merge outcome. */
export const mergeRequestsProjection: Projection = {
  kind: 'projection',
  name: 'merge_requests',
  handles: ['MergeRequestOpened', 'MergeRequestHeadUpdated', 'MergeRequestApproved', 'TestRunRequested', 'TestRunCompleted', 'MergeRequestMerged', 'MergeRequestMergeFailed'],
  tables: ['merge_requests', 'merge_request_test_runs'],
  async apply(tx, event) {
    const at = event.metadata.occurredAt;
    const org = event.metadata.orgId;
    switch (event.type) {
      case 'MergeRequestOpened': {
        const d = event.data as MergeRequestOpened['data'];
        await tx.query(
          `insert into merge_requests (org_id, mr_id, repo_id, title, description, source_branch, head_sha, state, opened_by_type, opened_by_id, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $10) on conflict do nothing`,
          [d.orgId, d.mrId, d.repoId, d.title, d.description, d.sourceBranch, d.headSha, d.openedBy.type, d.openedBy.id, at],
        );
        return;
      }
      case 'MergeRequestHeadUpdated': {
        const d = event.data as MergeRequestHeadUpdated['data'];
        await tx.query("update merge_requests set head_sha = $3, approvals = '[]', updated_at = $4 where org_id = $1 and mr_id = $2", [org, d.mrId, d.headSha, at]);
        return;
      }
      case 'MergeRequestApproved': {
        const d = event.data as MergeRequestApproved['data'];
        await tx.query(
          `update merge_requests set approvals = approvals || jsonb_build_array(jsonb_build_object('approverId', $3::text, 'headSha', $4::text, 'at', $5::text)), updated_at = $5::timestamptz
            where org_id = $1 and mr_id = $2`,
          [org, d.mrId, d.approverId, d.headSha, at],
        );
        return;
      }
      case 'TestRunRequested': {
        const d = event.data as TestRunRequested['data'];
        await tx.query(
          `insert into merge_request_test_runs (org_id, mr_id, run_id, head_sha, status, requested_by_type, requested_by_id, requested_at)
           values ($1, $2, $3, $4, 'requested', $5, $6, $7) on conflict do nothing`,
          [org, d.mrId, d.runId, d.headSha, d.requestedBy.type, d.requestedBy.id, at],
        );
        await tx.query('update merge_requests set updated_at = $3 where org_id = $1 and mr_id = $2', [org, d.mrId, at]);
        return;
      }
      case 'TestRunCompleted': {
        const d = event.data as TestRunCompleted['data'];
        await tx.query(
          `update merge_request_test_runs set status = $3, exit_code = $4, timed_out = $5, invalid_config = $6, duration_ms = $7, completed_at = $8
            where org_id = $1 and run_id = $2`,
          [org, d.runId, d.passed ? 'passed' : 'failed', d.exitCode, d.timedOut, d.invalidConfig ?? false, Math.min(d.durationMs, 2_147_483_647), at],
        );
        await tx.query('update merge_requests set updated_at = $3 where org_id = $1 and mr_id = $2', [org, d.mrId, at]);
        return;
      }
      case 'MergeRequestMerged': {
        const d = event.data as MergeRequestMerged['data'];
        await tx.query("update merge_requests set state = 'merged', merge_commit = $3, updated_at = $4 where org_id = $1 and mr_id = $2", [org, d.mrId, d.mergeCommit, at]);
        return;
      }
      case 'MergeRequestMergeFailed': {
        const d = event.data as MergeRequestMergeFailed['data'];
        await tx.query('update merge_requests set last_failure = $3, updated_at = $4 where org_id = $1 and mr_id = $2', [org, d.mrId, `${d.reason}: ${d.detail}`, at]);
        return;
      }
    }
  },
};
