/**
 * The pages' static assets, kept as strings so the build (tsc, which copies no other files) ships them
 * and they are served from this origin only (the CSP allows nothing else; there is no CDN offline).
 */
import { SESSIONS_SCRIPT } from './sessions-page.js';
import { STATUS_SCRIPT } from './status-script.js';

export const STYLESHEET = `
:root {
  --bg: #f6f7f9; --card: #fff; --text: #1c2430; --muted: #5b6676; --line: #e2e6ec;
  --accent: #128c7e; --accent-text: #fff; --danger: #c0392b;
  --ok: #1e8e3e; --warn: #b26a00; --bad: #c0392b; --idle: #6b7685; --info: #1a73e8;
  --radius: 12px;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #11151b; --card: #1a2029; --text: #e6e9ee; --muted: #9aa5b4; --line: #2a323d; --accent: #25b39f; --accent-text: #06201c; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
.top { display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap; padding: 12px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
.brand { display: flex; align-items: center; gap: 8px; font-weight: 700; font-size: 18px; color: var(--text); text-decoration: none; }
.logo { width: 22px; height: 22px; display: block; }
.top nav { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; }
.top nav a { color: var(--muted); text-decoration: none; font-weight: 500; }
.top nav a:hover, .top nav a:focus-visible { color: var(--text); }
.top nav form { margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 12px; }
.sub { color: var(--muted); margin: 0 0 20px; }
.grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; align-items: start; }
.grid > .wide { grid-column: 1 / -1; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 20px; }
.status-row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.badge { display: inline-flex; align-items: center; gap: 8px; padding: 4px 12px; border-radius: 999px; font-weight: 600; font-size: 14px; letter-spacing: .02em; background: color-mix(in srgb, var(--tone) 14%, transparent); color: var(--tone); --tone: var(--idle); }
.badge::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.badge[data-tone="ok"] { --tone: var(--ok); }
.badge[data-tone="warn"] { --tone: var(--warn); }
.badge[data-tone="bad"] { --tone: var(--bad); }
.badge[data-tone="info"] { --tone: var(--info); }
.since { color: var(--muted); font-size: 14px; }
.detail { margin: 12px 0 0; color: var(--muted); }
.detail strong { color: var(--text); }
.qr-area { margin: 20px 0 4px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
.qr-frame { background: #fff; padding: 12px; border-radius: 10px; border: 1px solid var(--line); line-height: 0; }
.qr-frame img { width: 264px; height: 264px; image-rendering: pixelated; display: block; }
.qr-side { flex: 1 1 220px; min-width: 0; }
.qr-help { margin: 0; padding-left: 20px; color: var(--muted); }
.qr-help li { margin: 4px 0; }
.qr-help strong { color: var(--text); }
.expires { color: var(--muted); font-size: 14px; margin-top: 8px; }
.linked { display: flex; align-items: center; gap: 12px; margin: 20px 0 4px; padding: 16px; border-radius: 10px; background: color-mix(in srgb, var(--ok) 10%, transparent); }
.linked .tick { width: 36px; height: 36px; border-radius: 50%; background: var(--ok); color: #fff; display: grid; place-items: center; font-size: 20px; font-weight: 700; flex: none; }
.notice { margin: 20px 0 4px; padding: 14px 16px; border-radius: 10px; background: color-mix(in srgb, var(--idle) 10%, transparent); color: var(--text); }
.actions { display: flex; gap: 10px; flex-wrap: wrap; margin-top: 20px; }
button, .button { font: inherit; font-weight: 600; border-radius: 8px; padding: 9px 16px; border: 1px solid var(--line); background: var(--card); color: var(--text); cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
button.danger { color: var(--danger); }
button:disabled { opacity: .55; cursor: progress; }
button.link { border: 0; background: none; padding: 0; color: var(--muted); font-weight: 500; }
button.link:hover { color: var(--text); }
.message { margin: 12px 0 0; font-size: 14px; color: var(--muted); }
.message:empty { display: none; }
.message[data-kind="error"] { color: var(--bad); }
.events { list-style: none; margin: 0; padding: 0; max-height: 460px; overflow-y: auto; }
.events li { display: grid; grid-template-columns: auto minmax(0, 1fr); gap: 10px; padding: 8px 0; border-top: 1px solid var(--line); font-size: 14px; }
.events li:first-child { border-top: 0; }
.events time { color: var(--muted); font-variant-numeric: tabular-nums; }
.events .what { overflow-wrap: anywhere; }
.events .empty { display: block; color: var(--muted); }
.webhooks { list-style: none; margin: 0; padding: 0; }
.webhooks li { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 4px 12px; padding: 10px 0; border-top: 1px solid var(--line); font-size: 14px; }
.webhooks li:first-child { border-top: 0; }
.webhooks .url { font-weight: 600; overflow-wrap: anywhere; }
.webhooks .detail { grid-column: 1 / -1; color: var(--muted); overflow-wrap: anywhere; }
.pairing { margin: 8px 0 12px; }
.pairing-code { font: 600 34px/1.2 ui-monospace, SFMono-Regular, Menlo, monospace; letter-spacing: 0.12em; margin: 0 0 8px; }
.pacing { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 6px 16px; margin: 0; font-size: 14px; }
.pacing dt { color: var(--muted); }
.pacing dd { margin: 0; overflow-wrap: anywhere; }
.webhooks .empty { display: block; color: var(--muted); }
.live { font-size: 13px; color: var(--muted); display: inline-flex; align-items: center; gap: 6px; font-weight: 400; }
.live::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--idle); }
.live[data-on="true"]::before { background: var(--ok); }
.card-title { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
[hidden] { display: none !important; }
/* overview */
.spaced { margin-top: 20px; }
table.list { border-collapse: collapse; width: 100%; font-size: 14px; }
table.list th, table.list td { text-align: left; padding: 8px 8px; border-top: 1px solid var(--line); vertical-align: middle; }
table.list thead th { border-top: 0; color: var(--muted); font-weight: 600; }
table.list .empty td { color: var(--muted); }
.inline-form { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; margin-top: 16px; }
.inline-form label { font-weight: 600; }
.inline-form input { font: inherit; padding: 8px 10px; border-radius: 8px; border: 1px solid var(--line); background: var(--bg); color: var(--text); width: 14em; }
.inline-form .help { color: var(--muted); font-size: 13px; }
.back { display: inline-block; margin-bottom: 8px; color: var(--muted); text-decoration: none; font-size: 14px; }
/* docs */
.endpoint { margin: 0 0 16px; }
.endpoint h3 { display: flex; gap: 10px; align-items: center; margin: 0 0 6px; font-size: 15px; flex-wrap: wrap; }
.method { font: 700 12px/1 ui-monospace, monospace; padding: 5px 8px; border-radius: 6px; color: #fff; background: var(--idle); }
.method.get { background: #1a73e8; } .method.post { background: #1e8e3e; } .method.patch { background: #b26a00; } .method.delete { background: #c0392b; }
.endpoint p { margin: 6px 0; }
.endpoint table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
.endpoint th, .endpoint td { text-align: left; padding: 6px 8px; border-top: 1px solid var(--line); vertical-align: top; }
.endpoint th { color: var(--muted); font-weight: 600; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 12px; overflow-x: auto; }
.toc { columns: 2; padding-left: 18px; }
/* login */
.login { max-width: 380px; margin: 48px auto; }
.login label { display: block; font-weight: 600; margin-bottom: 6px; }
.login input { width: 100%; font: inherit; padding: 10px 12px; border-radius: 8px; border: 1px solid var(--line); background: var(--bg); color: var(--text); }
.login button { width: 100%; margin-top: 16px; }
.login .error { color: var(--bad); margin: 0 0 12px; }
@media (max-width: 760px) {
  main { padding: 16px; }
  .top { padding: 10px 16px; }
  .grid { grid-template-columns: minmax(0, 1fr); }
  .qr-area { justify-content: center; }
  .qr-side { flex-basis: 100%; }
  .qr-frame img { width: min(264px, 70vw); height: min(264px, 70vw); }
  .actions button { flex: 1 1 auto; }
  table.list th:nth-child(5), table.list td:nth-child(5), table.list th:nth-child(6), table.list td:nth-child(6) { display: none; }
  .toc { columns: 1; }
}
`;

export const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#128c7e"/><path d="M8 11l3 11 5-8 5 8 3-11" fill="none" stroke="#fff" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

export const ASSETS: Readonly<Record<string, { type: string; body: string }>> = {
  'waq.css': { type: 'text/css; charset=utf-8', body: STYLESHEET },
  'status.js': { type: 'text/javascript; charset=utf-8', body: STATUS_SCRIPT },
  'sessions.js': { type: 'text/javascript; charset=utf-8', body: SESSIONS_SCRIPT },
  'favicon.svg': { type: 'image/svg+xml', body: FAVICON },
};
