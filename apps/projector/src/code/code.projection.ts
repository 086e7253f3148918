import type {
  MergeRequestApproved,
  MergeRequestHeadUpdated,
  MergeRequestMerged,
  MergeRequestMergeFailed,
  MergeRequestOpened,
  RepositoryCreated,
  TestRunCompleted,
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

/** Merge requests: state, head, approvals of the current head, runs, and the merge outcome. */
export const mergeRequestsProjection: Projection = {
  kind: 'projection',
  name: 'merge_requests',
  handles: ['MergeRequestOpened', 'MergeRequestHeadUpdated', 'MergeRequestApproved', 'TestRunCompleted', 'MergeRequestMerged', 'MergeRequestMergeFailed'],
  tables: ['merge_requests'],
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
      case 'TestRunCompleted': {
        const d = event.data as TestRunCompleted['data'];
        await tx.query(
          `update merge_requests set test_runs = test_runs || jsonb_build_array(jsonb_build_object('runId', $3::text, 'headSha', $4::text, 'passed', $5::boolean)), updated_at = $6::timestamptz
            where org_id = $1 and mr_id = $2`,
          [org, d.mrId, d.runId, d.headSha, d.passed, at],
        );
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
