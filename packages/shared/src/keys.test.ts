import { describe, expect, it } from 'vitest';

import { sessionKeys } from './keys.js';

describe('sessionKeys', () => {
  it('puts every key of a session under one prefix and one Redis Cluster hash tag', () => {
    const keys = sessionKeys({ prefix: 'waq', sessionId: 'default' });
    const all = [
      keys.state,
      keys.lease,
      keys.events,
      keys.message('m-1'),
      keys.waMessage('true_1@c.us_ABC'),
      `${keys.bullPrefix}:outbox:wait`,
      keys.store,
      keys.storeGenerations,
      keys.storeGeneration(3),
      keys.storeChunk(3, 0),
    ];
    expect(all).toEqual([
      'waq:{default}:state',
      'waq:{default}:lease',
      'waq:{default}:events',
      'waq:{default}:msg:m-1',
      'waq:{default}:wamsg:true_1@c.us_ABC',
      'waq:{default}:outbox:wait',
      'waq:{default}:store',
      'waq:{default}:store:gens',
      'waq:{default}:store:3',
      'waq:{default}:store:3:0',
    ]);
    for (const key of all) expect(/\{([^}]*)\}/.exec(key)?.[1]).toBe('default');
  });

  it('keeps sessions and installations apart', () => {
    expect(sessionKeys({ prefix: 'a', sessionId: 's1' }).state).not.toBe(sessionKeys({ prefix: 'a', sessionId: 's2' }).state);
    expect(sessionKeys({ prefix: 'a', sessionId: 's1' }).state).not.toBe(sessionKeys({ prefix: 'b', sessionId: 's1' }).state);
  });
});
