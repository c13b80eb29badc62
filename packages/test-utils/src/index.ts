export * from './redis.js';
export * from './http.js';
export * from './processes.js';
