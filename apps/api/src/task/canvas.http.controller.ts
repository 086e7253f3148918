import { Controller, Get, Param, ParseUUIDPipe, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { TASK_STATUSES } from '@bastion/domain';
import type { BastionRequest } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { SealedFields } from '../security/sealed-fields';
import { descriptionRef, type TaskRow, taskView } from './tasks.http.controller';


@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/canvas')
export class CanvasController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly fields: SealedFields,
  ) {}

  /**
   * The board: tasks by column (position order) and the organisation's agents with their current work. While the
   * organisation's key is withdrawn the board still shows, each description `null` with `descriptionUnavailable`.
   */
  @Requires('canvas:view')
  @Get()
  @ApiOkResponse({ description: '{columns: {<status>: [task…]}, agents: [{id, name, activeKeys, assignedTasks}]}' })
  async canvas(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Req() req: BastionRequest) {
    const { tasks, agents, keys } = await this.db.inOrg(req, orgId, async (tx) => {
      const found = (await tx.query<TaskRow>("select * from tasks where org_id = $1 and status <> 'cancelled' order by status, position, created_at", [orgId])).rows;
      return {
        tasks: found,
        agents: (await tx.query('select agent_id, name, active_keys, created_at from agents where org_id = $1 order by created_at', [orgId])).rows,
        keys: await this.fields.wrappedKeysIn(tx, orgId, found.map((t) => t.description)),
      };
    });
    const columns = Object.fromEntries(TASK_STATUSES.filter((s) => s !== 'cancelled').map((s) => [s, [] as ReturnType<typeof taskView>[]]));
    const descriptions = await this.fields.openEach(req, orgId, tasks.map(descriptionRef), keys);
    tasks.forEach((t, i) => columns[t.status]?.push(taskView(t, descriptions[i]!)));
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
