export type CreateOrganization = {
  type: 'CreateOrganization';
  data: { orgId: string; name: string; createdBy: string; providerId: string | null };
};

export type ProvisionOrganization = { type: 'ProvisionOrganization'; data: { orgId: string } };

export type OrganizationCommand = CreateOrganization | ProvisionOrganization;
