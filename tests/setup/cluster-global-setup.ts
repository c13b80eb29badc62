/**
 * The cluster layer's global setup: a throwaway 3-master Redis Cluster (no replicas, free ports) for the
 * whole run. Its URL (`redis+cluster://…`) becomes REDIS_URL, so the same tests, their Redis fixtures
 * and every process they spawn (workers, the API) run against the cluster.
 */
import { startRedisCluster } from '@waq/test-utils';

export default async function setup(): Promise<() => Promise<void>> {
  const cluster = await startRedisCluster({ masters: 3 });
  process.env['REDIS_URL'] = cluster.url;
  return () => cluster.close();
}
