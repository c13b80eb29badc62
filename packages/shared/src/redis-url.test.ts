import { describe, expect, it } from 'vitest';

import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';
import { parseClusterUrl } from './redis-url.js';

describe('parseClusterUrl', () => {
  it('a plain redis:// URL names no cluster', () => {
    expect(parseClusterUrl('redis://127.0.0.1:6379')).toBeUndefined();
    expect(parseClusterUrl('rediss://user:pw@cache.example:6380/0')).toBeUndefined();
  });

  it('reads the seed nodes, the credentials and TLS', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001, [::1]:7002')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://waq:p%40ss:word@cache.example/')).toEqual({
      nodes: [{ host: 'cache.example', port: 6379 }],
      username: 'waq',
      password: 'p@ss:word',
      tls: true,
    });
    expect(parseClusterUrl('redis+cluster://:secret@h1:7000')).toEqual({ nodes: [{ host: 'h1', port: 7000 }], password: 'secret', tls: false });
  });

  it('refuses a malformed host list, and config says which variable', () => {
    expect(() => parseClusterUrl('redis+cluster://')).toThrow(/redis\+cluster:\/\/\[user:password@\]host:port/);
    expect(() => parseClusterUrl('redis+cluster://h1:7000,:7001')).toThrow(/":7001" is not a host:port/);
    expect(() => parseClusterUrl('redis+cluster://h1:notaport')).toThrow(/"h1:notaport" is not a host:port/);
    const error = (() => {
      try {
        loadConfig({ REDIS_URL: 'redis+cluster://h1:7000,,h2' });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['REDIS_URL']);
    expect(loadConfig({ REDIS_URL: 'redis+cluster://h1:7000,h2:7001' }).REDIS_URL).toBe('redis+cluster://h1:7000,h2:7001');
  });
});
