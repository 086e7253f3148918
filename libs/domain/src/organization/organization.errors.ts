import { DomainError } from '../shared/errors';

export class OrganizationAlreadyExistsError extends DomainError {
  readonly code = 'ORG.ALREADY_EXISTS';
  constructor() {
    super('The organisation already exists.');
  }
}

export class OrganizationNotFoundError extends DomainError {
  readonly code = 'ORG.NOT_FOUND';
  constructor() {
    super('The organisation does not exist.');
  }
}

export class InvalidOrganizationNameError extends DomainError {
  readonly code = 'ORG.INVALID_NAME';
  constructor(readonly reason: string) {
    super(`Invalid organisation name: ${reason}.`);
  }
}
