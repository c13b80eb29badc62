import { defineConfig } from 'vitest/config';

/**
 * Three layers (see DESIGN.md, "Testing layers"), selected by file name:
 * - unit   `*.test.ts`        pure logic, no Redis, no processes;
 * - redis  `*.redis.test.ts`  real Redis (REDIS_URL), a unique prefix per test, cleaned up after;
 * - e2e    `*.e2e.test.ts`    real processes, Chromium and the WhatsApp Web simulator.
 * - cluster  the Redis tests and the session-store takeover (reliability scenario 14) again, on a
 *            throwaway 3-master Redis Cluster (tests/setup/cluster-global-setup.ts).
 * `npm test` runs them in that order; `pnpm vitest --project unit` runs one.
 */
/**
 * Waits are generous: CI is a loaded 2-core machine, and a wait that runs out there fails the run.
 * `expect.poll` takes its default from here; every `vi.waitFor` names its own timeout.
 */
const patience = { expect: { poll: { timeout: 15_000, interval: 50 } } };
const sourceCondition = { resolve: { conditions: ['waq-source'] }, ssr: { resolve: { conditions: ['waq-source'] } } };
const include = ['apps/*/src/**/*', 'packages/*/src/**/*', 'scripts/**/*', 'bench/**/*', 'tests/**/*'];
const glob = (suffix: string): string[] => include.map((dir) => `${dir}${suffix}`);
/**
 * Not on the cluster: the benchmarks' smoke runs (one Redis by design) and the Redis-outage test (it
 * stops a Redis of its own).
 */
/**
 * Not run again on the cluster: Redis-down needs one server to stop; the bench smoke; and, to keep the
 * suite in its time budget, files whose Redis use other cluster files cover — the owner's lifecycle
 * with the fake driver (its lease, outbox and state on the cluster: lease, pool, owner-media,
 * owner-webhooks, session-store), the login throttle, the API's start-up and the sandbox scan.
 */
const notOnCluster = [
  'bench/**',
  'apps/api/src/http/redis-down.redis.test.ts',
  'apps/worker/src/owner.redis.test.ts',
  'apps/api/src/auth/auth.redis.test.ts',
  'apps/api/src/main.redis.test.ts',
  'apps/api/src/http/sandbox.redis.test.ts',
];

export default defineConfig({
  test: {
    /**
     * Vitest runs numCpus - 1 files at once: one on a 2-core machine, and the Redis layers then spend most
     * of their time waiting on timers and round trips, one file after the other. Three at once took the
     * redis layer from 167 to 72 s and the cluster layer from 120 to 56 s on the 2-core machine. The e2e
     * layer stays one file at a time (`fileParallelism: false` below).
     */
    maxWorkers: 3,
    minWorkers: 1,
    projects: [
      {
        ...sourceCondition,
        test: {
          name: 'unit',
          ...patience,
          include: glob('.test.ts'),
          exclude: [...glob('.redis.test.ts'), ...glob('.e2e.test.ts'), '**/node_modules/**'],
          testTimeout: 10_000,
        },
      },
      {
        ...sourceCondition,
        test: {
          name: 'redis',
          ...patience,
          include: glob('.redis.test.ts'),
          exclude: ['**/node_modules/**'],
          // Above the tests' own 20–30 s waits: a wait that runs out shows what it saw, not a bare timeout.
          testTimeout: 60_000,
          hookTimeout: 20_000,
        },
      },
      {
        ...sourceCondition,
        test: {
          name: 'e2e',
          ...patience,
          include: glob('.e2e.test.ts'),
          exclude: ['**/node_modules/**'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // The reliability stack runs the apps' production build (`node dist/main.js`), as deployed.
          globalSetup: ['tests/setup/e2e-global-setup.ts'],
          // Each E2E file drives real Chromium processes: two at once already fill this 2-core machine.
          fileParallelism: false,
        },
      },
      {
        ...sourceCondition,
        test: {
          name: 'cluster',
          ...patience,
          include: [...glob('.redis.test.ts'), 'tests/reliability/session-store.e2e.test.ts'],
          exclude: [...notOnCluster, '**/node_modules/**'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          globalSetup: ['tests/setup/e2e-global-setup.ts', 'tests/setup/cluster-global-setup.ts'],
        },
      },
    ],
  },
});
