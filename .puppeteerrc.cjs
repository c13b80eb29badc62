/**
 * puppeteer reads this file at install time and at run time. waq launches the system Chromium
 * (Debian `chromium-headless-shell`, then `chromium`, or CHROMIUM_PATH), so puppeteer must never
 * download a browser of its own: the download fails on machines without internet access anyway.
 * @type {import('puppeteer').Configuration}
 */
module.exports = { skipDownload: true };
