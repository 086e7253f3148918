import type { Projection } from '@bastion/infra/projection/projection';
import { agentsProjection } from './agents/agents.projection';
import { orgActivityProjection } from './organization/org-activity.projection';
import { orgInvitationsProjection } from './organization/org-invitations.projection';
import { orgMembersProjection } from './organization/org-members.projection';
import { organizationsProjection } from './organization/organizations.projection';
import { tasksProjection } from './task/tasks.projection';
import { mergeRequestsProjection, repositoriesProjection } from './code/code.projection';

/** Every read model the projector maintains, by name (the names `rebuild` accepts). */
export const PROJECTIONS: readonly Projection[] = [
  organizationsProjection,
  orgActivityProjection,
  orgMembersProjection,
  orgInvitationsProjection,
  agentsProjection,
  tasksProjection,
  repositoriesProjection,
  mergeRequestsProjection,
];
