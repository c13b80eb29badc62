import { describe, expect, it } from 'vitest';
import { renderSimPage } from './render-sim-page.js';

describe('renderSimPage', () => {
  const html = renderSimPage({ phoneUrl: 'http://127.0.0.1:4100', version: '2.3000.1' });
  const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';

  it('is one self-contained document: a single inline script, no external resource', () => {
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/\ssrc=|<link|@import/);
  });

  it('embeds the config and is valid JavaScript', () => {
    expect(script).toContain('"phoneUrl":"http://127.0.0.1:4100"');
    expect(script).not.toContain('__WA_SIM_CONFIG__');
    // Parse only (never run): the page's syntax errors would otherwise surface as an "auth timeout".
    expect(() => new Function(script)).not.toThrow();
  });

  it('cannot be broken out of by a hostile config value', () => {
    const evil = renderSimPage({ phoneUrl: 'http://x/</script><script>alert(1)//', version: 'v' });
    expect(evil.match(/<\/script>/g)).toHaveLength(1);
  });
});
