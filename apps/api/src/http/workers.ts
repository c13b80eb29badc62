/** `GET /v1/workers` (the pool: who runs what) and `POST /v1/workers/:id/drain`. */
import type { WorkerRegistry } from '@waq/shared';

import { errorResponse, type HttpResult } from './error-response.js';

export async function listWorkers(workers: WorkerRegistry): Promise<HttpResult> {
  return { status: 200, body: { workers: await workers.list() } };
}

/**
 * Asks a worker to drain: it claims nothing more and hands its sessions over one at a time (each
 * waits for a survivor to have it READY before the next goes), then keeps running empty until it is
 * stopped. For taking a machine out of the pool without a gap.
 */
export async function drainWorker(workers: WorkerRegistry, id: string): Promise<HttpResult> {
  if (!(await workers.requestDrain(id))) {
    return errorResponse(404, 'worker_not_found', `there is no worker ${JSON.stringify(id.slice(0, 128))} in the pool: GET /v1/workers lists them`);
  }
  const worker = (await workers.list()).find((view) => view.id === id);
  return { status: 202, body: { worker: worker === undefined ? null : { ...worker, draining: true } } };
}
