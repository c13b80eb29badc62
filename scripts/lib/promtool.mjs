// @ts-check
/**
 * `promtool`, which the Redis test layer runs on both apps' /metrics output (`promtool check metrics`).
 *
 * Debian ships it only inside the `prometheus` server package (bookworm: 19 MB download, ~96 MB
 * installed; no smaller package has it). Installed without Recommends (prometheus-node-exporter, a
 * daemon). On a host booted with systemd the package's postinst also enables and starts the Prometheus
 * server (port 9090); in a container without an init system it does not. `systemctl disable --now
 * prometheus` stops it if you do not want it: the tests only need the promtool binary.
 */
import { which } from './executables.mjs';

/** @returns {import('./system-packages.mjs').Requirement} */
export function promtoolRequirement() {
  return {
    name: 'promtool',
    packages: ['prometheus'],
    find: () => which('promtool'),
    help:
      'Install it: sudo apt-get install --no-install-recommends prometheus (Debian/Ubuntu; the package that ships promtool),\n' +
      "or put a promtool binary from a Prometheus release on PATH. The tests lint both apps' /metrics output with it and fail without it.",
    // The bootstrap carries on: only the two metrics tests need it, and they fail saying the same.
    whenMissing: 'warn',
    noRecommends: true,
  };
}
