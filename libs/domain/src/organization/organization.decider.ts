import type { Decider } from '../shared/decider';
import { assertNever } from '../shared/errors';
import type { CreateOrganization, OrganizationCommand, ProvisionOrganization } from './organization.commands';
import {
  InvalidOrganizationNameError,
  OrganizationAlreadyExistsError,
  OrganizationNotFoundError,
} from './organization.errors';
import type { OrganizationEvent } from './organization.events';

export type OrganizationState =
  | { status: 'Empty' }
  | { status: 'Active'; orgId: string; name: string; provisioned: boolean };

export const ORGANIZATION_NAME_MAX = 100;

function create(command: CreateOrganization, state: OrganizationState): OrganizationEvent[] {
  if (state.status !== 'Empty') throw new OrganizationAlreadyExistsError();
  const name = command.data.name.trim();
  if (name.length === 0) throw new InvalidOrganizationNameError('it is empty');
  if (name.length > ORGANIZATION_NAME_MAX) throw new InvalidOrganizationNameError(`it is longer than ${ORGANIZATION_NAME_MAX} characters`);
  // Control characters would let a name forge lines in CSV exports and logs.
  if (/\p{Cc}/u.test(name)) throw new InvalidOrganizationNameError('it contains control characters');
  return [{ type: 'OrganizationCreated', data: { ...command.data, name } }];
}

function provision(_command: ProvisionOrganization, state: OrganizationState): OrganizationEvent[] {
  if (state.status === 'Empty') throw new OrganizationNotFoundError();
  // Idempotent: a retried or replayed provisioning job decides nothing new.
  if (state.provisioned) return [];
  return [{ type: 'OrganizationProvisioned', data: { orgId: state.orgId } }];
}

export const organizationDecider: Decider<OrganizationCommand, OrganizationEvent, OrganizationState> = {
  initialState: () => ({ status: 'Empty' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateOrganization':
        return create(command, state);
      case 'ProvisionOrganization':
        return provision(command, state);
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'OrganizationCreated':
        return { status: 'Active', orgId: event.data.orgId, name: event.data.name, provisioned: false };
      case 'OrganizationProvisioned':
        return state.status === 'Active' ? { ...state, provisioned: true } : state;
      default:
        return assertNever(event);
    }
  },
};
