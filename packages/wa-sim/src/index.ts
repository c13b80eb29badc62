export { startPhoneServer, type PhoneServer, type PhoneServerOptions } from './phone-server.js';
export { simAccountUrl, isAccountId, DEFAULT_ACCOUNT_ID, type AccountSummary } from './account-id.js';
export { StateDirInUseError, type AccountState, type PhoneLog } from './account-file.js';
export { SimPhone, type SimPhoneOptions, type SentRecord, type IncomingRecord, type PhoneSnapshot, type PageLink } from './sim-phone.js';
export { handlePhoneRequest, type ApiResponse } from './phone-api.js';
export { PhoneApiError, NoQrOnScreenError, InvalidAccountIdError, PhoneServerClosingError } from './errors.js';
export { normalizeNumber, defaultIsRegistered, UNREGISTERED_NUMBER, UNREGISTERED_PREFIX } from './numbers.js';
export { renderSimPage, type SimPageConfig } from './page/render-sim-page.js';
export {
  prepareSimClientOptions,
  writeSimPage,
  SIM_WEB_VERSION,
  CHECKED_WWEBJS_VERSION,
  OFFLINE_CHROMIUM_ARGS,
  type SimClientConfig,
} from './sim-client-options.js';
export { resolveChromium, CHROMIUM_CANDIDATES, type ResolvedChromium } from './chromium-path.js';
