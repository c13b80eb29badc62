import { resolve } from 'node:path';
import wwebjs from 'whatsapp-web.js';
import { describe, expect, it } from 'vitest';

import { SERVER_CHROMIUM_ARGS, whatsappClientOptions } from './whatsapp-client-options.js';

describe('whatsappClientOptions', () => {
  const chromiumPath = '/bin/sh'; // any executable: the resolver only checks that it runs

  it('saves the session with LocalAuth under SESSION_DIR/session-<SESSION_ID> and caches WhatsApp Web locally', () => {
    const options = whatsappClientOptions({ sessionId: 'shop-1', sessionDir: './.wwebjs_auth', cacheDir: './.wwebjs_cache', chromiumPath });
    expect(options.authStrategy).toBeInstanceOf(wwebjs.LocalAuth);
    expect(options.authStrategy).toMatchObject({ clientId: 'shop-1', dataPath: resolve('./.wwebjs_auth') });
    expect(options.webVersionCache).toEqual({ type: 'local', path: './.wwebjs_cache' });
  });

  it('launches the chosen Chromium with the server flags plus extras', () => {
    const options = whatsappClientOptions({ sessionId: 'default', sessionDir: 'a', cacheDir: 'c', chromiumPath, extraArgs: ['--lang=de'] });
    expect(options.puppeteer).toEqual({ executablePath: chromiumPath, headless: true, args: [...SERVER_CHROMIUM_ARGS, '--lang=de'] });
    expect(options.puppeteer?.args).toContain('--disable-dev-shm-usage');
  });

  it('gives every call its own LocalAuth (one binds to one Client)', () => {
    const settings = { sessionId: 'default', sessionDir: 'a', cacheDir: 'c', chromiumPath };
    expect(whatsappClientOptions(settings).authStrategy).not.toBe(whatsappClientOptions(settings).authStrategy);
  });
});
