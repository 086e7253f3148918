import type { TaskAssigned, TaskCancelled, TaskCreated, TaskMoved, TaskUpdated } from '@bastion/domain';
import type { Projection } from '@bastion/infra/projection/projection';

/** Tasks and their place on the canvas. The description is copied as stored: the projector never decrypts. */
export const tasksProjection: Projection = {
  kind: 'projection',
  name: 'tasks',
  handles: ['TaskCreated', 'TaskUpdated', 'TaskAssigned', 'TaskMoved', 'TaskCancelled'],
  tables: ['tasks'],
  async apply(tx, event) {
    const at = event.metadata.occurredAt;
    const org = event.metadata.orgId;
    switch (event.type) {
      case 'TaskCreated': {
        const d = event.data as TaskCreated['data'];
        await tx.query(
          `insert into tasks (org_id, task_id, title, description, status, position, created_by, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $8) on conflict do nothing`,
          [d.orgId, d.taskId, d.title, d.description, d.status, d.position, d.createdBy, at],
        );
        return;
      }
      case 'TaskUpdated': {
        const d = event.data as TaskUpdated['data'];
        await tx.query(
          `update tasks set title = coalesce($3, title), description = coalesce($4, description), updated_at = $5
            where org_id = $1 and task_id = $2`,
          [org, d.taskId, d.title ?? null, d.description ?? null, at],
        );
        return;
      }
      case 'TaskAssigned': {
        const d = event.data as TaskAssigned['data'];
        await tx.query('update tasks set assignee_type = $3, assignee_id = $4, updated_at = $5 where org_id = $1 and task_id = $2', [
          org,
          d.taskId,
          d.assignee?.type ?? null,
          d.assignee?.id ?? null,
          at,
        ]);
        return;
      }
      case 'TaskMoved': {
        const d = event.data as TaskMoved['data'];
        await tx.query('update tasks set status = $3, position = $4, updated_at = $5 where org_id = $1 and task_id = $2', [
          org,
          d.taskId,
          d.to,
          d.position,
          at,
        ]);
        return;
      }
      case 'TaskCancelled': {
        const d = event.data as TaskCancelled['data'];
        await tx.query("update tasks set status = 'cancelled', updated_at = $3 where org_id = $1 and task_id = $2", [org, d.taskId, at]);
        return;
      }
    }
  },
};
