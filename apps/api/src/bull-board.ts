/**
 * Bull Board at `/admin/queues`: the control and outbox queues of every session in the registry, for
 * operators, grouped by session (`sales/outbox`). The list follows the registry: it is re-read when a
 * page or its API is requested, at most every `refreshMs`, so a session created or deleted through the
 * API shows up or goes without a restart.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { settleInitialisation, webhookQueue, type Producer, type RedisClient, type SessionRegistry, type WebhookRegistry } from '@waq/shared';
import type { Queue } from 'bullmq';
import type { RequestHandler, Router } from 'express';

export const BULL_BOARD_PATH = '/admin/queues';

export interface QueueBoardDependencies {
  readonly producer: Producer;
  readonly registry: SessionRegistry;
  /** Each session's webhooks: their delivery queues are shown too. */
  readonly webhooks?: { readonly registry: WebhookRegistry; readonly redis: RedisClient; readonly prefix: string };
  /** Resolves once the configured session is in the registry (its first read must not miss it). */
  readonly seeded?: () => Promise<void>;
  /** @defaultValue 2000 */
  readonly refreshMs?: number;
}

export interface QueueBoard {
  /** Re-reads the registry first when the board's list is older than `refreshMs`. */
  readonly sync: RequestHandler;
  readonly router: Router;
  /** Closes the webhook delivery queues it opened. */
  close(): Promise<void>;
}

function adapters(producer: Producer, sessionId: string): BullMQAdapter[] {
  const { queues } = producer.session(sessionId);
  const options = { prefix: `${sessionId}/`, delimiter: '/' };
  return [
    new BullMQAdapter(queues.control, { ...options, displayName: `${sessionId} control`, description: 'connect / logout / restart: consumed whatever the session state' }),
    new BullMQAdapter(queues.outbox, { ...options, displayName: `${sessionId} outbox`, description: 'sends: paused while the session is not READY, so held messages wait here in order' }),
  ];
}

export function createQueueBoard({ producer, registry, webhooks, seeded, refreshMs = 2_000 }: QueueBoardDependencies): QueueBoard {
  /** Delivery queues shown, by `<session>/<webhook id>` (closed when their webhook goes). */
  const deliveryQueues = new Map<string, Queue>();
  const webhookAdapters = async (sessionId: string): Promise<BullMQAdapter[]> => {
    if (webhooks === undefined) return [];
    const subscriptions = await webhooks.registry.list(sessionId);
    return subscriptions.map((subscription) => {
      const key = `${sessionId}/${subscription.id}`;
      let queue = deliveryQueues.get(key);
      if (queue === undefined) {
        queue = webhookQueue({ redis: webhooks.redis, prefix: webhooks.prefix, sessionId }, subscription.id);
        queue.on('error', () => undefined);
        deliveryQueues.set(key, queue);
      }
      return new BullMQAdapter(queue, { prefix: `${sessionId}/`, delimiter: '/', displayName: `${sessionId} webhook ${subscription.id}`, description: `deliveries to ${new URL(subscription.url).host}, in order` });
    });
  };
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  const board = createBullBoard({
    queues: adapters(producer, producer.sessionId),
    serverAdapter,
    options: {
      uiConfig: {
        boardTitle: 'waq queues',
        hideDocsLink: true,
        miscLinks: [
          { text: 'Status page', url: '/' },
          { text: 'API docs', url: '/docs' },
        ],
      },
    },
  });
  let shown = '';
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    await seeded?.();
    const { sessions } = await registry.list();
    const ids = sessions.filter((record) => record.desired !== 'deleted').map((record) => record.id);
    const lists = await Promise.all(ids.map(async (id) => [...adapters(producer, id), ...(await webhookAdapters(id))]));
    readAt = Date.now();
    const listed = lists.flat();
    const names = listed.map((adapter) => adapter.getName()).join('\n');
    for (const [key, queue] of deliveryQueues) {
      if (!listed.some((adapter) => adapter.getName() === `${key.split('/')[0]}/${queue.name}`)) {
        deliveryQueues.delete(key);
        void queue.close().catch(() => undefined);
      }
    }
    if (names === shown) return;
    shown = names;
    board.replaceQueues(listed);
  };
  return {
    router: serverAdapter.getRouter() as Router,
    async close() {
      const queues = [...deliveryQueues.values()];
      deliveryQueues.clear();
      await settleInitialisation(queues);
      await Promise.allSettled(queues.map((queue) => queue.close()));
    },
    sync: (_req, _res, next) => {
      if (Date.now() - readAt < refreshMs) return next();
      reading ??= refresh().finally(() => {
        reading = undefined;
      });
      // The board keeps its last list when Redis cannot be read; its own calls then fail as they would.
      reading.then(() => next(), () => next());
    },
  };
}
