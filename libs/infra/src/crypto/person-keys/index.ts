export * from './person-key-cache';
export * from './person-key-service';
export * from './person-key.repository';
export * from './person-subject';
export * from './personal-token';
export * from './reveal-personal';
export * from './seal-personal';
export * from './erase-person';
