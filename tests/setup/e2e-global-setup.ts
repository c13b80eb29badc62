/** The e2e layer's global setup: the production build the reliability stack runs is current. */
import { buildForProduction } from '@waq/test-utils';

export default async function setup(): Promise<void> {
  await buildForProduction();
}
