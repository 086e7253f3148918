import { deciderSpec } from '../testing/given-when-then';
import { organizationDecider } from './organization.decider';
import {
  InvalidOrganizationNameError,
  OrganizationAlreadyExistsError,
  OrganizationNotFoundError,
} from './organization.errors';
import type { OrganizationCreated } from './organization.events';

const orgId = '0190f5a0-0000-7000-8000-000000000001';
const userId = '0190f5a0-0000-7000-8000-0000000000aa';
const created: OrganizationCreated = {
  type: 'OrganizationCreated',
  data: { orgId, name: 'Acme', createdBy: userId, providerId: null },
};
const spec = deciderSpec(organizationDecider);

describe('organization decider', () => {
  it('creates an organisation with a trimmed name', () => {
    spec
      .given([])
      .when({ type: 'CreateOrganization', data: { orgId, name: '  Acme ', createdBy: userId, providerId: null } })
      .then([created]);
  });

  it('refuses to create an organisation twice', () => {
    spec
      .given([created])
      .when({ type: 'CreateOrganization', data: { orgId, name: 'Acme', createdBy: userId, providerId: null } })
      .thenThrows(OrganizationAlreadyExistsError, 'ORG.ALREADY_EXISTS');
  });

  it.each([[''], ['   '], ['x'.repeat(101)], ['line\nbreak']])('refuses the name %j', (name) => {
    spec
      .given([])
      .when({ type: 'CreateOrganization', data: { orgId, name, createdBy: userId, providerId: null } })
      .thenThrows(InvalidOrganizationNameError, 'ORG.INVALID_NAME');
  });

  it('provisions once, and a second provisioning decides nothing', () => {
    spec.given([created]).when({ type: 'ProvisionOrganization', data: { orgId } }).then([
      { type: 'OrganizationProvisioned', data: { orgId } },
    ]);
    spec
      .given([created, { type: 'OrganizationProvisioned', data: { orgId } }])
      .when({ type: 'ProvisionOrganization', data: { orgId } })
      .then([]);
  });

  it('cannot provision an organisation that does not exist', () => {
    spec.given([]).when({ type: 'ProvisionOrganization', data: { orgId } }).thenThrows(OrganizationNotFoundError);
  });
});
