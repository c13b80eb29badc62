/**
 * The Redis Cluster form of REDIS_URL, `redis+cluster://[user:password@]host:port[,host:port…]`
 * (`rediss+cluster://` with TLS): the seed nodes a cluster client discovers the rest from. Kept apart
 * from redis.ts so config validation does not load ioredis.
 */

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/?#]*)@)?([^/?#]+)\/?(?:[?#].*)?$/;

/** A Redis Cluster named by a `redis+cluster://` URL: its seed nodes and what every node connection needs. */
export interface ClusterTarget {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
}

/** The cluster a `redis[s]+cluster://` URL names; undefined for a plain `redis[s]://` URL. Throws on a malformed one. */
export function parseClusterUrl(url: string): ClusterTarget | undefined {
  if (!/^rediss?\+cluster:/.test(url)) return undefined;
  const match = CLUSTER_URL.exec(url);
  if (match === null) throw new Error('a cluster URL looks like redis+cluster://[user:password@]host:port[,host:port…]');
  const [, scheme, userInfo, hostList] = match as unknown as [string, string, string | undefined, string];
  const nodes = hostList.split(',').map((entry) => {
    const node = URL.parse(`redis://${entry.trim()}`);
    if (node === null || node.hostname === '' || node.username !== '') throw new Error(`"${entry}" is not a host:port (credentials go before the first host)`);
    return { host: node.hostname.replace(/^\[(.*)\]$/, '$1'), port: node.port === '' ? 6379 : Number(node.port) };
  });
  const [user, password] = userInfo === undefined ? [] : userInfo.split(/:(.*)/s).map(decodeURIComponent);
  return { nodes, ...(user ? { username: user } : {}), ...(password ? { password } : {}), tls: scheme === 'rediss' };
}
