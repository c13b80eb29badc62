/** The small HTML toolkit of the pages: escaping and one layout. No templating library needed. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** HTML built by `html` is trusted; interpolated strings are escaped unless they are `Html` already. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolated = string | number | boolean | Html | readonly Interpolated[] | null | undefined;

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map((v: Interpolated) => render(v)).join('');
  return escapeHtml(String(value));
}

/** Tagged template: `html\`<p>${userText}</p>\`` escapes `userText`. */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

export interface PageOptions {
  readonly title: string;
  readonly body: Html;
  /** Same-origin scripts to load (the CSP allows nothing else). */
  readonly scripts?: readonly string[];
  readonly bodyAttributes?: Readonly<Record<string, string>>;
  /** The signed-in navigation; off on the login page. */
  readonly nav?: boolean;
}

export function layout({ title, body, scripts = [], bodyAttributes = {}, nav = true }: PageOptions): string {
  const attributes = Object.entries(bodyAttributes).map(([name, value]) => html` ${new Html(name)}="${value}"`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<link rel="stylesheet" href="/assets/waq.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
${scripts.map((src) => html`<script src="${src}" defer></script>\n`)}</head>
<body${attributes}>
<header class="top">
  <a class="brand" href="/"><img class="logo" src="/assets/favicon.svg" alt="" width="22" height="22">waq</a>
  ${nav ? html`<nav>
    <a href="/">Status</a>
    <a href="/admin/queues">Queues</a>
    <a href="/docs">API docs</a>
    <form method="post" action="/logout"><button type="submit" class="link">Sign out</button></form>
  </nav>` : ''}
</header>
<main>
${body}
</main>
</body>
</html>
`.value;
}
