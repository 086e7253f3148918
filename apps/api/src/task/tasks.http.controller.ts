import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { type Actor, InvalidTaskError, TASK_STATUSES, type TaskStatus } from '@bastion/domain';
import { prepared } from '@bastion/infra/database/prepared-statement';
import { uuidv7 } from '@bastion/infra/ids/uuid-v7';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import type { PoolClient } from 'pg';
import type { BastionRequest } from '../auth/request-context';
import { Requires } from '../auth/requires.decorator';
import { SessionDatabase } from '../auth/session-database';
import { ProblemError, problemType } from '../http/problem';
import { type OpenedField, SEALED_FIELDS, SealedFields, type SealedRef } from '../security/sealed-fields';
import { runTaskCommand } from './task-commands';

export class CreateTaskRequest {
  @ApiProperty() @IsString() @MaxLength(200) title!: string;
  @ApiPropertyOptional({ description: 'Sensitive: sealed under the organisation’s key at the command; stored and projected only as ciphertext.' })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  description?: string;
}

export class UpdateTaskRequest {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) title?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(20_000) description?: string;
}

export class AssigneeDto {
  @ApiProperty({ enum: ['human', 'agent'] }) @IsIn(['human', 'agent']) type!: 'human' | 'agent';
  @ApiProperty() @IsUUID() id!: string;
}

export class AssignTaskRequest {
  @ApiProperty({ type: AssigneeDto, nullable: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => AssigneeDto)
  assignee!: AssigneeDto | null;
}

export class MoveTaskRequest {
  @ApiProperty({ enum: TASK_STATUSES.filter((s) => s !== 'cancelled') })
  @IsIn(TASK_STATUSES.filter((s) => s !== 'cancelled'))
  to!: TaskStatus;
  @ApiProperty() @IsInt() @Min(0) @Max(1_000_000) position!: number;
}

export class CancelTaskRequest {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(500) reason?: string;
}

export class ListTasksQuery {
  @ApiPropertyOptional({ default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(200) limit?: number;
}

export interface TaskRow {
  task_id: string;
  title: string;
  description: string;
  status: string;
  position: number;
  assignee_type: string | null;
  assignee_id: string | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

/** The sealed description of a task row, bound to its org, task and field. */
export function descriptionRef(r: TaskRow): SealedRef {
  return { record: r.task_id, field: SEALED_FIELDS.taskDescription, token: r.description };
}

/**
 * A task as the API shows it, with its description opened. When the org's key is withdrawn, a list still shows
 * every task, with `description: null` and `descriptionUnavailable` saying why (`key-revoked`, `kms-unavailable`,
 * `undecryptable`); the field is absent otherwise.
 */
export function taskView(r: TaskRow, description: OpenedField) {
  return {
    id: r.task_id,
    title: r.title,
    description: description.value,
    ...(description.unavailable === null ? {} : { descriptionUnavailable: description.unavailable }),
    status: r.status,
    position: r.position,
    assignee: r.assignee_id ? { type: r.assignee_type, id: r.assignee_id } : null,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}


/** The board's hot read, named: parsed and planned once per pooled connection (docs/performance.md, RLS). */
const LATEST_TASKS = prepared(
  'tasks.latest',
  `select task_id, title, description, status, position, assignee_type, assignee_id, created_by, created_at, updated_at
     from tasks where org_id = $1 order by updated_at desc limit $2`,
);

const actorOf = (req: BastionRequest): Actor => ({ type: req.principal!.type, id: req.principal!.id });

@ApiTags('tasks')
@ApiBearerAuth()
@Controller('v1/orgs/:orgId/tasks')
export class TasksController {
  constructor(
    private readonly db: SessionDatabase,
    private readonly fields: SealedFields,
  ) {}

  @Requires('task:create')
  @Post()
  @HttpCode(201)
  @ApiCreatedResponse({ description: '{id}; the canvas shows it once projected.' })
  async create(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Body() body: CreateTaskRequest, @Req() req: BastionRequest) {
    const taskId = uuidv7();
    const sealer = body.description ? await this.fields.sealerFor(req, orgId) : undefined;
    await this.db.inOrg(req, orgId, (tx) =>
      runTaskCommand(
        tx,
        req,
        orgId,
        taskId,
        { type: 'CreateTask', data: { taskId, orgId, title: body.title, description: body.description ?? '', createdBy: req.principal!.id } },
        sealer,
      ),
    );
    return { id: taskId };
  }

  @Requires('task:view', 'task:work_assigned')
  @Get()
  @ApiOkResponse({
    description: '{tasks: [...]}, latest first. A description whose key is withdrawn is `null`, with `descriptionUnavailable` saying why.',
  })
  async list(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Query() query: ListTasksQuery, @Req() req: BastionRequest) {
    const [rows, keys] = await this.db.inOrg(req, orgId, async (tx) => {
      const found = (await tx.query<TaskRow>(LATEST_TASKS.with([orgId, query.limit ?? 50]))).rows;
      return [found, await this.fields.wrappedKeysIn(tx, orgId, found.map((r) => r.description))] as const;
    });
    const descriptions = await this.fields.openEach(req, orgId, rows.map(descriptionRef), keys);
    return { tasks: rows.map((row, i) => taskView(row, descriptions[i]!)) };
  }

  @Requires('task:view', 'task:work_assigned')
  @Get(':taskId')
  @ApiOkResponse({ description: 'The task. Fails closed with `key-revoked` (409) while the organisation’s key is withdrawn.' })
  async get(@Param('orgId', new ParseUUIDPipe()) orgId: string, @Param('taskId', new ParseUUIDPipe()) taskId: string, @Req() req: BastionRequest) {
    const [row, keys] = await this.db.inOrg(req, orgId, async (tx) => {
      const found = (await tx.query<TaskRow>('select * from tasks where org_id = $1 and task_id = $2', [orgId, taskId])).rows[0];
      return [found, found ? await this.fields.wrappedKeysIn(tx, orgId, [found.description]) : undefined] as const;
    });
    if (!row) throw new ProblemError({ type: problemType('not-found'), title: 'no such task', status: 404 });
    const [description] = await this.fields.openOne(req, orgId, [descriptionRef(row)], keys);
    return taskView(row, { value: description!, unavailable: null });
  }

  @Requires('task:update', 'task:work_assigned')
  @Patch(':taskId')
  @HttpCode(204)
  @ApiNoContentResponse()
  async update(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('taskId', new ParseUUIDPipe()) taskId: string,
    @Body() body: UpdateTaskRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    // A title-only change needs no key, so it still works while the org's key is withdrawn.
    const sealer = body.description ? await this.fields.sealerFor(req, orgId) : undefined;
    await this.db.inOrg(req, orgId, (tx) =>
      runTaskCommand(
        tx,
        req,
        orgId,
        taskId,
        { type: 'UpdateTask', data: { title: body.title, description: body.description }, actor: actorOf(req) },
        sealer,
      ),
    );
  }

  /** Assign to a member or an agent of the organisation, or unassign with null. Humans only. */
  @Requires('task:update')
  @Post(':taskId/assign')
  @HttpCode(204)
  @ApiNoContentResponse()
  async assign(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('taskId', new ParseUUIDPipe()) taskId: string,
    @Body() body: AssignTaskRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    await this.db.inOrg(req, orgId, async (tx) => {
      if (body.assignee) await assertAssignable(tx, orgId, body.assignee);
      return runTaskCommand(tx, req, orgId, taskId, { type: 'AssignTask', data: { assignee: body.assignee ?? null }, actor: actorOf(req) });
    });
  }

  /** Every move is a `TaskMoved` event with its actor, human or agent. */
  @Requires('task:update', 'task:work_assigned')
  @Post(':taskId/move')
  @HttpCode(204)
  @ApiNoContentResponse()
  async move(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('taskId', new ParseUUIDPipe()) taskId: string,
    @Body() body: MoveTaskRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    await this.db.inOrg(req, orgId, (tx) =>
      runTaskCommand(tx, req, orgId, taskId, { type: 'MoveTask', data: { to: body.to, position: body.position }, actor: actorOf(req) }),
    );
  }

  @Requires('task:update')
  @Post(':taskId/cancel')
  @HttpCode(204)
  @ApiNoContentResponse()
  async cancel(
    @Param('orgId', new ParseUUIDPipe()) orgId: string,
    @Param('taskId', new ParseUUIDPipe()) taskId: string,
    @Body() body: CancelTaskRequest,
    @Req() req: BastionRequest,
  ): Promise<void> {
    await this.db.inOrg(req, orgId, (tx) =>
      runTaskCommand(tx, req, orgId, taskId, { type: 'CancelTask', data: { reason: body.reason ?? null }, actor: actorOf(req) }),
    );
  }
}

/** An assignee is a member or an agent of this organisation (read through RLS, like any read). */
async function assertAssignable(tx: PoolClient, orgId: string, assignee: { type: 'human' | 'agent'; id: string }): Promise<void> {
  const sql =
    assignee.type === 'human'
      ? 'select 1 from org_members where org_id = $1 and user_id = $2'
      : 'select 1 from agents where org_id = $1 and agent_id = $2';
  const { rowCount } = await tx.query(sql, [orgId, assignee.id]);
  if (!rowCount) throw new InvalidTaskError(`the ${assignee.type} to assign is not part of this organisation`);
}
