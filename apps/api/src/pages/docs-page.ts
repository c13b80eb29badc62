/**
 * `/docs`: the OpenAPI document rendered as one plain HTML page on the server (no CDN, no script):
 * every operation with its parameters, body and responses, then every schema.
 */
import { html, layout, type Html } from './html.js';

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly description?: string;
  readonly schema?: Record<string, unknown>;
}
interface Operation {
  readonly summary?: string;
  readonly description?: string;
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  readonly responses?: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
  readonly security?: readonly unknown[];
}
interface Document {
  readonly info: { title: string; version: string; description?: string };
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { schemas: Record<string, unknown> };
}

const anchor = (method: string, path: string): string => `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-').replace(/-+$/, '');

/** `code` spans for `backticks` in descriptions (the only markdown the descriptions use). */
function prose(text: string | undefined): Html | string {
  if (text === undefined) return '';
  const parts = text.split('`');
  return html`${parts.map((part, i) => (i % 2 === 1 ? html`<code>${part}</code>` : part))}`;
}

function schemaLink(schema: Record<string, unknown> | undefined): Html | string {
  const target = schema?.['$ref'];
  if (typeof target === 'string') {
    const name = target.split('/').pop() ?? target;
    return html`<a href="#schema-${name}"><code>${name}</code></a>`;
  }
  return schema === undefined ? '' : html`<code>${typeof schema['type'] === 'string' ? schema['type'] : 'schema'}</code>`;
}

function typeOf(schema: Record<string, unknown> | undefined): string {
  if (schema === undefined) return '';
  if (Array.isArray(schema['enum'])) return (schema['enum'] as unknown[]).map(String).join(' | ');
  return typeof schema['type'] === 'string' ? schema['type'] : '';
}

function operation(method: string, path: string, op: Operation): Html {
  const parameters = op.parameters ?? [];
  const body = op.requestBody?.content['application/json']?.schema;
  return html`<section class="card endpoint" id="${anchor(method, path)}">
  <h3><span class="method ${method}">${method.toUpperCase()}</span><code>${path}</code>${op.security?.length === 0 ? html` <small>(no auth)</small>` : ''}</h3>
  <p><strong>${op.summary ?? ''}</strong></p>
  ${op.description === undefined ? '' : html`<p>${prose(op.description)}</p>`}
  ${parameters.length === 0 ? '' : html`<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Meaning</th></tr>
    ${parameters.map((p) => html`<tr><td><code>${p.name}</code></td><td>${p.in}</td><td>${typeOf(p.schema)}</td><td>${prose(p.description)}</td></tr>`)}</table>`}
  ${body === undefined ? '' : html`<p>Body (JSON): ${schemaLink(body)}</p>`}
  <table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>
    ${Object.entries(op.responses ?? {}).map(([status, response]) => {
      const [type, media] = Object.entries(response.content ?? {})[0] ?? [];
      return html`<tr><td><code>${status}</code></td><td>${prose(response.description)}</td><td>${type === undefined ? '' : html`${schemaLink(media?.schema)} <small>${type}</small>`}</td></tr>`;
    })}</table>
</section>`;
}

export function docsPage(document: Record<string, unknown>): string {
  const doc = document as unknown as Document;
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  const body = html`
<h1>${doc.info.title} <small class="since">${doc.info.version}</small></h1>
<p class="sub">${prose(doc.info.description)} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<section class="card endpoint">
  <h2>Endpoints</h2>
  <ul class="toc">${operations.map(({ path, method, op }) => html`<li><a href="#${anchor(method, path)}"><code>${method.toUpperCase()} ${path}</code></a> ${op.summary ?? ''}</li>`)}</ul>
</section>
${operations.map(({ path, method, op }) => operation(method, path, op))}
<h2>Schemas</h2>
${Object.entries(doc.components.schemas).map(([name, schema]) => html`<section class="card endpoint" id="schema-${name}">
  <h3><code>${name}</code></h3>
  <pre>${JSON.stringify(schema, null, 2)}</pre>
</section>`)}`;
  return layout({ title: 'waq API docs', body });
}
