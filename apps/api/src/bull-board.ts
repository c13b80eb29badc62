/** Bull Board at `/admin/queues`: the session's control and outbox queues, for operators. */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { SessionQueues } from '@waq/shared';
import type { Router } from 'express';

export const BULL_BOARD_PATH = '/admin/queues';

export function bullBoardRouter(queues: SessionQueues, sessionId: string): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [
      new BullMQAdapter(queues.control, { displayName: `control (${sessionId})`, description: 'connect / logout / restart: consumed whatever the session state' }),
      new BullMQAdapter(queues.outbox, { displayName: `outbox (${sessionId})`, description: 'sends: paused while the session is not READY, so held messages wait here in order' }),
    ],
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
  return serverAdapter.getRouter() as Router;
}
