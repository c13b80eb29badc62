export * from './redis.js';
export * from './http.js';
export * from './processes.js';
export * from './chromium.js';
export * from './redis-server.js';
export * from './secrets.js';
export * from './promtool.js';
export * from './production-build.js';
