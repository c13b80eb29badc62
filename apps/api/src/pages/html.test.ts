import { describe, expect, it } from 'vitest';

import { docsPage } from './docs-page.js';
import { html, Html } from './html.js';
import { loginPage } from './login-page.js';
import { statusPage } from './status-page.js';

describe('html', () => {
  it('escapes interpolated text and attribute values, and keeps nested Html', () => {
    const evil = `"><script>alert('x')</script>&`;
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe('<p title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p>');
    expect(html`<ul>${['a<', 'b'].map((item) => html`<li>${item}</li>`)}</ul>`.value).toBe('<ul><li>a&lt;</li><li>b</li></ul>');
    expect(html`${new Html('<b>trusted</b>')}${null}${undefined}${false}${0}`.value).toBe('<b>trusted</b>0');
  });

  it('never lets page inputs inject markup', () => {
    expect(loginPage({ next: '/"><script>x</script>', failed: false })).not.toContain('<script>x');
    expect(statusPage({ sessionId: '<img src=x onerror=alert(1)>', sandbox: false })).not.toContain('<img src=x');
    const doc = { info: { title: '<i>t</i>', version: '1' }, paths: { '/x': { get: { summary: '<b>s</b>', description: '`<c>`' } } }, components: { schemas: { S: { description: '</pre><script>' } } } };
    const page = docsPage(doc);
    expect(page).not.toMatch(/<i>t<\/i>|<b>s<\/b>|<c>|<\/pre><script>/);
  });
});
