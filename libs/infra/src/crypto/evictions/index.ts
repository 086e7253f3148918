export * from './redis-evictions';
