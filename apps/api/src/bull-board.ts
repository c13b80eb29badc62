/**
 * Bull Board at `/admin/queues`: the control and outbox queues of every session in the registry, for
 * operators, grouped by session (`sales/outbox`). The list follows the registry: it is re-read when a
 * page or its API is requested, at most every `refreshMs`, so a session created or deleted through the
 * API shows up or goes without a restart.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Producer, SessionRegistry } from '@waq/shared';
import type { RequestHandler, Router } from 'express';

export const BULL_BOARD_PATH = '/admin/queues';

export interface QueueBoardDependencies {
  readonly producer: Producer;
  readonly registry: SessionRegistry;
  /** Resolves once the configured session is in the registry (its first read must not miss it). */
  readonly seeded?: () => Promise<void>;
  /** @defaultValue 2000 */
  readonly refreshMs?: number;
}

export interface QueueBoard {
  /** Re-reads the registry first when the board's list is older than `refreshMs`. */
  readonly sync: RequestHandler;
  readonly router: Router;
}

function adapters(producer: Producer, sessionId: string): BullMQAdapter[] {
  const { queues } = producer.session(sessionId);
  const options = { prefix: `${sessionId}/`, delimiter: '/' };
  return [
    new BullMQAdapter(queues.control, { ...options, displayName: `${sessionId} control`, description: 'connect / logout / restart: consumed whatever the session state' }),
    new BullMQAdapter(queues.outbox, { ...options, displayName: `${sessionId} outbox`, description: 'sends: paused while the session is not READY, so held messages wait here in order' }),
  ];
}

export function createQueueBoard({ producer, registry, seeded, refreshMs = 2_000 }: QueueBoardDependencies): QueueBoard {
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
  let shown = producer.sessionId;
  let readAt = 0;
  let reading: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    await seeded?.();
    const { sessions } = await registry.list();
    const ids = sessions.filter((record) => record.desired !== 'deleted').map((record) => record.id);
    readAt = Date.now();
    if (ids.join('\n') === shown) return;
    shown = ids.join('\n');
    board.replaceQueues(ids.flatMap((id) => adapters(producer, id)));
  };
  return {
    router: serverAdapter.getRouter() as Router,
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
