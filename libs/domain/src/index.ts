export * from './shared/event';
export * from './shared/decider';
export * from './shared/errors';
export * from './shared/stream-id';
export * from './organization/organization.events';
export * from './organization/organization.commands';
export * from './organization/organization.errors';
export * from './organization/organization.decider';
