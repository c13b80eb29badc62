export * from './redis.js';
export * from './http.js';
