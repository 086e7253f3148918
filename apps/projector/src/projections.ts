import type { Projection } from '@bastion/infra/projection/projection';
import { orgActivityProjection } from './organization/org-activity.projection';
import { organizationsProjection } from './organization/organizations.projection';

/** Every read model the projector maintains, by name (the names `rebuild` accepts). */
export const PROJECTIONS: readonly Projection[] = [organizationsProjection, orgActivityProjection];
