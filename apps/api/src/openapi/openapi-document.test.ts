/**
 * The OpenAPI document as client generators and linters see it: stable operation ids, a 4XX answer
 * wherever one exists, and a clean `redocly lint` (the root devDependency @redocly/cli, rules and the
 * reasons for the two turned off in /redocly.yaml). No Redis: the document is built from the schemas.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { OPERATIONS, openApiDocument } from './openapi-document.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const REDOCLY = path.join(ROOT, 'node_modules', '.bin', 'redocly');

interface LintRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function redoclyLint(file: string): Promise<LintRun> {
  return new Promise((resolve, reject) => {
    execFile(
      REDOCLY,
      ['lint', '--config', path.join(ROOT, 'redocly.yaml'), '--format=json', file],
      // No update check (it would go to the npm registry); telemetry is off in redocly.yaml too.
      { cwd: ROOT, env: { ...process.env, REDOCLY_SUPPRESS_NOTIFICATIONS: 'true', REDOCLY_TELEMETRY: 'off' }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else if (error.code === 'ENOENT') reject(new Error(`${REDOCLY} is missing: install the dependencies (npx -y pnpm@10.18.0 install; npm test does it).`));
        else reject(error);
      },
    );
  });
}

describe('the OpenAPI document', () => {
  it('names every operation with a stable, unique camelCase operationId', () => {
    // Generated clients name their methods after these: a rename here breaks them, so make it on purpose.
    expect(OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path} ${op.operationId}`)).toEqual([
      'POST /v1/sessions createSession',
      'GET /v1/sessions listSessions',
      'GET /v1/sessions/{session} describeSession',
      'PATCH /v1/sessions/{session} updateSession',
      'DELETE /v1/sessions/{session} deleteSession',
      'POST /v1/sessions/{session}/start startSession',
      'POST /v1/sessions/{session}/stop stopSession',
      'POST /v1/sessions/{session}/messages sendSessionMessage',
      'POST /v1/sessions/{session}/media uploadSessionMedia',
      'GET /v1/sessions/{session}/media/{mediaId} getSessionMedia',
      'GET /v1/sessions/{session}/messages listSessionMessages',
      'GET /v1/sessions/{session}/messages/{id} getSessionMessage',
      'DELETE /v1/sessions/{session}/messages/{id} cancelSessionMessage',
      'POST /v1/sessions/{session}/connect connectSessionById',
      'POST /v1/sessions/{session}/logout logoutSessionById',
      'POST /v1/sessions/{session}/restart restartSessionById',
      'GET /v1/sessions/{session}/contacts/{number} checkSessionNumber',
      'GET /v1/sessions/{session}/qr getSessionQrCode',
      'GET /v1/sessions/{session}/events streamEventsOfSession',
      'POST /v1/sessions/{session}/sandbox/scan simulateSessionQrScan',
      'POST /v1/sessions/{session}/webhooks createWebhook',
      'GET /v1/sessions/{session}/webhooks listWebhooks',
      'GET /v1/sessions/{session}/webhooks/{webhook} describeWebhook',
      'PATCH /v1/sessions/{session}/webhooks/{webhook} updateWebhook',
      'DELETE /v1/sessions/{session}/webhooks/{webhook} deleteWebhook',
      'GET /v1/sessions/{session}/webhooks/{webhook}/failures listWebhookFailures',
      'POST /v1/sessions/{session}/webhooks/{webhook}/redrive redriveWebhook',
      'GET /v1/workers listWorkers',
      'POST /v1/workers/{id}/drain drainWorker',
      'POST /v1/messages sendMessage',
      'POST /v1/media uploadMedia',
      'GET /v1/media/{mediaId} getMedia',
      'GET /v1/messages listMessages',
      'GET /v1/messages/{id} getMessage',
      'DELETE /v1/messages/{id} cancelMessage',
      'POST /v1/session/connect connectSession',
      'POST /v1/session/logout logoutSession',
      'POST /v1/session/restart restartSession',
      'GET /v1/contacts/{number} checkNumber',
      'GET /v1/session/qr getQrCode',
      'GET /v1/session/events streamSessionEvents',
      'POST /v1/sandbox/scan simulateQrScan',
      'GET /v1/session getSession',
      'GET /healthz getLiveness',
      'GET /readyz getReadiness',
      'GET /metrics getMetrics',
    ]);
    const ids = OPERATIONS.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z]+(?:[A-Z][a-z]*)*$/);
  });

  it('documents a 4XX answer for every operation that needs the API key (redocly.yaml leaves the public probes out)', () => {
    for (const op of OPERATIONS.filter((o) => o.public !== true)) {
      expect(Object.keys(op.responses), `${op.method.toUpperCase()} ${op.path}`).toContain('401');
    }
  });

  describe('redocly lint', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'waq-openapi-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // About 0.5 s on an idle machine; a loaded 2-core CI runner can take several times that (Node start
    // plus loading the bundled CLI), far past the unit layer's 10 s default on a bad day.
    it('finds no error and no warning', { timeout: 90_000 }, async () => {
      const file = path.join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(openApiDocument('1.2.3'), null, 2));
      const run = await redoclyLint(file);
      let report: { totals: Record<string, number>; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
      try {
        report = JSON.parse(run.stdout) as typeof report;
      } catch {
        throw new Error(`redocly lint printed no JSON report (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
      }
      expect(report.problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`)).toEqual([]);
      expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
      expect(run.code).toBe(0);
    });
  });
});
