/**
 * The fake driver passes the same contract battery as the real one (wwebjs-driver.e2e.test.ts), so the
 * fast worker tests built on it exercise behaviour the real stack has.
 */
import { describeDriverContract } from './driver-contract.js';
import { FakeWhatsApp } from './fake-driver.js';

const PEER = '15550100002@c.us';
const UNREGISTERED = '99900000001@c.us';
const STRANGER = '15550100003@c.us';

describeDriverContract(
  'FakeDriver',
  () => {
    const world = new FakeWhatsApp({ qrIntervalMs: 200, ackDelayMs: 5, registered: [PEER, STRANGER], me: { wid: '15550100001@c.us', pushname: 'waq test' } });
    return {
      createDriver: world.createDriver,
      phone: {
        scan: () => world.scan(),
        enterCode: (code) => world.enterCode(code),
        unlink: () => world.unlink(),
        goOffline: () => world.goOffline(),
        goOnline: () => world.goOnline(),
        receive: (from, body) => world.receive(from, body),
        receiveFile: (from, { data, mimetype, caption }) => world.receiveMedia(from, { type: mimetype.startsWith('image/') ? 'image' : 'document', data, mimetype, caption }),
        sentTo: (wid) => world.messagesTo(wid).map(({ waMessageId, body, media }) => ({ waMessageId, body, sha256: media?.sha256 })),
        chatStates: (wid) => world.chatStates.filter((s) => s.to === wid).map((s) => s.state),
      },
      peerWid: PEER,
      unregisteredWid: UNREGISTERED,
      strangerWid: STRANGER,
      cleanup: async () => undefined,
    };
  },
  { eventTimeoutMs: 2_000 },
);
