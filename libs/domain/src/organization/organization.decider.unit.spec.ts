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
    expect(spec
      .given([])
      .when({ type: 'CreateOrganization', data: { orgId, name: '  Acme ', createdBy: userId, providerId: null } }).events()).toEqual([created]);
  });

  it('refuses to create an organisation twice', () => {
    const error = spec
      .given([created])
      .when({ type: 'CreateOrganization', data: { orgId, name: 'Acme', createdBy: userId, providerId: null } }).error();
    expect(error).toBeInstanceOf(OrganizationAlreadyExistsError);
    expect(error).toMatchObject({ code: 'ORG.ALREADY_EXISTS' });
  });

  it.each([[''], ['   '], ['x'.repeat(101)], ['line\nbreak']])('refuses the name %j', (name) => {
    const error = spec
      .given([])
      .when({ type: 'CreateOrganization', data: { orgId, name, createdBy: userId, providerId: null } }).error();
    expect(error).toBeInstanceOf(InvalidOrganizationNameError);
    expect(error).toMatchObject({ code: 'ORG.INVALID_NAME' });
  });

  it('provisions once, and a second provisioning decides nothing', () => {
    expect(spec.given([created]).when({ type: 'ProvisionOrganization', data: { orgId } }).events()).toEqual([
      { type: 'OrganizationProvisioned', data: { orgId } },
    ]);
    expect(spec
      .given([created, { type: 'OrganizationProvisioned', data: { orgId } }])
      .when({ type: 'ProvisionOrganization', data: { orgId } }).events()).toEqual([]);
  });

  it('cannot provision an organisation that does not exist', () => {
    expect(spec.given([]).when({ type: 'ProvisionOrganization', data: { orgId } }).error()).toBeInstanceOf(OrganizationNotFoundError);
  });
});
