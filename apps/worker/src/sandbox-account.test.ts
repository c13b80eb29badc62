/**
 * The API's `…/sandbox/scan` and the worker's sandbox driver find a session's simulated account with
 * shared's `sandboxAccountUrl`; the simulator serves accounts at the URLs of its own `simAccountUrl`.
 * They must agree, or a scan would link another account than the one the session's browser shows.
 */
import { sandboxAccountUrl } from '@waq/shared';
import { simAccountUrl } from '@waq/wa-sim';
import { describe, expect, it } from 'vitest';

describe('sandboxAccountUrl', () => {
  it('names the simulator account the session runs on: its own, and the default account for SESSION_ID', () => {
    for (const base of ['http://127.0.0.1:4100', 'http://127.0.0.1:4100/', 'http://sim.local/base']) {
      for (const id of ['sales', 'support-2', 'a_b', 'x'.repeat(64)]) {
        expect(sandboxAccountUrl(base, id, 'default')).toBe(simAccountUrl(base, id));
      }
      expect(sandboxAccountUrl(base, 'Legacy_1', 'Legacy_1')).toBe(base);
      expect(sandboxAccountUrl(base, 'default', 'default')).toBe(simAccountUrl(base, 'default'));
    }
  });
});
