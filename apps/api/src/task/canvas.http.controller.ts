import { Controller, Get, Param, ParseUUIDPipe, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { TASK_STATUSES } from '@bastion/domain';
import type { BastionRequest } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { taskView } from './tasks.http.controller';

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/canvas')
export class CanvasController {
  constructor(private readonly db: SessionDatabase) {}

  /** The board: tasks by column (position order) and the organisation's agents with their current work. */
  @Requires('canvas:view')
  @Get()
  @ApiOkResponse({ description: '{columns: {<status>: [task…]}, agents: [{id, name, activeKeys, assignedTasks}]}' })
  async canvas(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const { tasks, agents } = await this.db.inOrg(req.principal!, orgId, { permission: 'canvas:view' }, async (tx) => ({
      tasks: (await tx.query("select * from tasks where org_id = $1 and status <> 'cancelled' order by status, position, created_at", [orgId])).rows,
      agents: (await tx.query('select agent_id, name, active_keys, created_at from agents where org_id = $1 order by created_at', [orgId])).rows,
    }));
    const columns = Object.fromEntries(TASK_STATUSES.filter((s) => s !== 'cancelled').map((s) => [s, [] as ReturnType<typeof taskView>[]]));
    for (const t of tasks) columns[t.status]?.push(taskView(t));
    return {
      columns,
      agents: agents.map((a) => ({
        id: a.agent_id,
        name: a.name,
        activeKeys: a.active_keys,
        assignedTasks: tasks.filter((t) => t.assignee_type === 'agent' && t.assignee_id === a.agent_id).map((t) => t.task_id),
      })),
    };
  }
}
