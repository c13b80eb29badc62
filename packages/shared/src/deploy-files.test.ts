/**
 * Guards for the Docker deployment files, which nothing else exercises here (no Docker engine on our
 * machines): docker-compose.yml must validate and wire every config variable, the Dockerfile may only
 * COPY what exists and is not .dockerignored, and its build and start commands must be the README's
 * production build commands (the block between `<!-- docker:start -->` and `<!-- docker:end -->`), so
 * the documented way and the image cannot drift apart.
 *
 * `docker-compose` (Debian package, v1) or a v2 `docker-compose` binary is required: `npm test`
 * installs it when run as root; without it this test fails and says how to install it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { configReference, type ConfigVariable } from './config.js';

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

/** Config variables docker-compose.yml deliberately does not pass to the containers, and why. */
const NOT_PASSED: ReadonlyMap<ConfigVariable, string> = new Map([
  ['CHROMIUM_PATH', 'the worker image brings /usr/bin/chromium-headless-shell; a host path means nothing inside it'],
  ['WAQ_SANDBOX', 'compose runs no simulator phone server: sandbox mode is `npm start` only'],
  ['WAQ_SIM_URL', 'sandbox mode only'],
]);

// ---------------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** The stage (FROM … AS name) the instruction belongs to. */
  readonly stage: string;
}

function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue; // comments inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(`${pending}${line}`.trim());
    pending = '';
  }
  let stage = '';
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)$/i.exec(args)?.[1] ?? '';
    return { keyword: keyword.toUpperCase(), args, stage };
  });
}

/** `COPY [--flag…] src… dest` → sources and flags (JSON form is not used by our Dockerfile). */
function copyParts(args: string): { flags: string[]; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  return { flags, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** Shell commands of RUN instructions, split on `&&`. */
function runCommands(instructions: readonly Instruction[]): string[] {
  return instructions.filter((i) => i.keyword === 'RUN').flatMap((i) => i.args.split('&&').map((c) => c.trim().replace(/\s+/g, ' ')));
}

// ---------------------------------------------------------------------------------------------------
// .dockerignore (the subset of Docker's matching our file uses: `*`, `**`, `?`, `!`)

function dockerignored(file: string, patterns: readonly string[]): boolean {
  const toRegex = (pattern: string): RegExp => {
    const body = pattern
      .replace(/^\/+|\/+$/g, '')
      .split('')
      .map((c) => (/[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c))
      .join('')
      .replace(/\*\*\//g, '\u0000')
      .replace(/\*\*/g, '.*')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/\u0000/g, '(?:.*/)?');
    return new RegExp(`^${body}$`);
  };
  const parts = path.posix.normalize(file).replace(/^\.\/|\/$/g, '').split('/');
  const candidates = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const regex = toRegex(negated ? raw.slice(1) : raw);
    if (candidates.some((candidate) => regex.test(candidate))) excluded = !negated;
  }
  return excluded;
}

const ignorePatterns = (): string[] =>
  read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

// ---------------------------------------------------------------------------------------------------
// README "Production build" block

const DOCKER_BLOCK = /<!-- docker:start -->([\s\S]*?)<!-- docker:end -->/;

interface ReadmeCommands {
  readonly pnpmVersions: string[];
  /** pnpm commands in order, `npx -y pnpm@<v>` written as `pnpm`. */
  readonly pnpm: string[];
  /** `cd <dir> && <command>` lines: dir → command. */
  readonly starts: Map<string, string>;
}

function readmeCommands(): ReadmeCommands {
  const block = DOCKER_BLOCK.exec(read('README.md'))?.[1];
  if (block === undefined) {
    throw new Error('README.md has no <!-- docker:start --> … <!-- docker:end --> block: add the production build commands the Dockerfile runs between those markers');
  }
  const fence = /```sh\n([\s\S]*?)```/.exec(block)?.[1] ?? '';
  const pnpmVersions: string[] = [];
  const pnpm: string[] = [];
  const starts = new Map<string, string>();
  for (const raw of fence.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const start = /^cd (\S+) && (.+)$/.exec(line);
    if (start) {
      starts.set(start[1] as string, (start[2] as string).replace(/\s+/g, ' '));
      continue;
    }
    const npx = /^npx -y pnpm@(\S+) (.+)$/.exec(line);
    if (npx) {
      pnpmVersions.push(npx[1] as string);
      pnpm.push(`pnpm ${(npx[2] as string).replace(/\s+/g, ' ')}`);
      continue;
    }
    throw new Error(`README docker block: unexpected line ${JSON.stringify(line)} (expected \`npx -y pnpm@<v> …\` or \`cd <dir> && <command>\`)`);
  }
  return { pnpmVersions, pnpm, starts };
}

// ---------------------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const instructions = parseDockerfile(read('Dockerfile'));
  const stages = new Set(instructions.filter((i) => i.keyword === 'FROM').map((i) => i.stage));
  const targets = ['api', 'worker'] as const;

  it('COPYs only paths that exist and are not excluded by .dockerignore', () => {
    const patterns = ignorePatterns();
    const sources = instructions
      .filter((i) => i.keyword === 'COPY')
      .map((i) => copyParts(i.args))
      .filter((copy) => !copy.flags.some((f) => f.startsWith('--from=')))
      .flatMap((copy) => copy.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(existsSync(path.join(ROOT, source)), `COPY ${source}: no such path in the repository`).toBe(true);
      expect(dockerignored(source, patterns), `COPY ${source}: excluded by .dockerignore`).toBe(false);
    }
  });

  it('copies every workspace package manifest before the frozen install', () => {
    const copied = new Set(instructions.filter((i) => i.keyword === 'COPY').flatMap((i) => copyParts(i.args).sources));
    for (const group of ['apps', 'packages']) {
      for (const name of readdirSync(path.join(ROOT, group))) {
        const manifest = `${group}/${name}/package.json`;
        if (existsSync(path.join(ROOT, manifest))) expect(copied, `Dockerfile must COPY ${manifest}`).toContain(manifest);
      }
    }
  });

  it('COPYs every project `tsc -b` builds, with the tsconfigs they extend', () => {
    const copied = instructions
      .filter((i) => i.keyword === 'COPY' && !copyParts(i.args).flags.some((f) => f.startsWith('--from=')))
      .flatMap((i) => copyParts(i.args).sources.map((source) => path.posix.normalize(source).replace(/\/$/, '')));
    const isCopied = (file: string): boolean => copied.some((source) => file === source || file.startsWith(`${source}/`));
    const build = runCommands(instructions).find((c) => c.startsWith('pnpm exec tsc -b'));
    expect(build, 'a `pnpm exec tsc -b` RUN').toBeDefined();
    const roots = (build ?? '').split(' ').slice(4).filter((a) => !a.startsWith('-'));
    // tsc -b builds each project's references first: follow them, and each tsconfig's `extends` chain
    // (tsconfig.build.json → tsconfig.json → tsconfig.base.json). A project is a directory (its
    // tsconfig.json) or a tsconfig file.
    type TsConfig = { extends?: string; references?: { path: string }[] };
    const asTsconfig = (project: string): string => (project.endsWith('.json') ? project : path.posix.join(project, 'tsconfig.json'));
    const pending = (roots.length > 0 ? roots : ['.']).map((root) => asTsconfig(path.posix.normalize(root)));
    const seen = new Set<string>();
    while (pending.length > 0) {
      const tsconfig = pending.pop() as string;
      if (seen.has(tsconfig)) continue;
      seen.add(tsconfig);
      expect(isCopied(tsconfig), `tsc -b needs ${tsconfig}: COPY it`).toBe(true);
      const config = JSON.parse(read(tsconfig)) as TsConfig;
      for (const reference of config.references ?? []) pending.push(asTsconfig(path.posix.join(path.posix.dirname(tsconfig), reference.path)));
      for (let file = tsconfig, link = config; link.extends !== undefined; ) {
        const base = path.posix.join(path.posix.dirname(file), link.extends);
        expect(isCopied(base), `${file} extends ${base}: COPY it`).toBe(true);
        file = base;
        link = JSON.parse(read(base)) as TsConfig;
      }
    }
  });

  it('keeps secrets, sessions and build output out of the build context', () => {
    const patterns = ignorePatterns();
    for (const file of ['.git/HEAD', '.wwebjs_auth/session-default/Default', '.wwebjs_cache/x.html', '.data/api-key', '.env', 'node_modules/x', 'apps/api/node_modules/x', 'packages/shared/dist/index.js']) {
      expect(dockerignored(file, patterns), `${file} must be in .dockerignore`).toBe(true);
    }
    expect(dockerignored('.env.example', patterns)).toBe(false);
  });

  it('pins the pnpm of package.json', () => {
    const packageManager = (JSON.parse(read('package.json')) as { packageManager?: string }).packageManager;
    const arg = instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('PNPM_VERSION='));
    expect(`pnpm@${arg?.args.split('=')[1]}`).toBe(packageManager);
    expect(readmeCommands().pnpmVersions.every((v) => `pnpm@${v}` === packageManager), 'README docker block pnpm version').toBe(true);
  });

  it('builds with exactly the README production commands, in order', () => {
    const dockerPnpm = runCommands(instructions).filter((c) => c.startsWith('pnpm '));
    expect(dockerPnpm).toEqual(readmeCommands().pnpm);
  });

  it.each(targets)('%s target: runs the deployed app as the README does, as a non-root user', (target) => {
    expect(stages).toContain(target);
    const own = instructions.filter((i) => i.stage === target);
    const workdir = own.findLast((i) => i.keyword === 'WORKDIR')?.args;
    const cmd = own.findLast((i) => i.keyword === 'CMD')?.args;
    const user = own.findLast((i) => i.keyword === 'USER')?.args;
    expect(user, `${target}: USER`).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const command = (z.array(z.string()).parse(JSON.parse(cmd ?? 'null'))).join(' ');

    // The deploy output of @waq/<target> is what the stage copies and runs from.
    const deploy = runCommands(instructions).find((c) => c.startsWith(`pnpm --filter @waq/${target} deploy `));
    const deployDir = deploy?.split(' ').at(-1);
    expect(deployDir, `no pnpm deploy of @waq/${target}`).toBeDefined();
    expect(own.some((i) => i.keyword === 'COPY' && i.args === `--from=build ${deployDir} ${deployDir}`), `${target}: COPY --from=build ${deployDir} ${deployDir}`).toBe(true);
    expect(workdir).toBe(deployDir);

    const startDist = (JSON.parse(read(`apps/${target}/package.json`)) as { scripts?: Record<string, string> }).scripts?.['start:dist'];
    expect(command).toBe(startDist);
    expect(readmeCommands().starts.get(deployDir ?? '')).toBe(command);
  });
});

// ---------------------------------------------------------------------------------------------------
// docker-compose.yml

const serviceSchema = z.looseObject({
  profiles: z.array(z.string()).optional(),
  build: z.looseObject({ target: z.string().optional() }).optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string().nullable()).optional(),
  volumes: z.array(z.union([z.string(), z.looseObject({ source: z.string().optional(), target: z.string() })])).optional(),
  depends_on: z.record(z.string(), z.looseObject({ condition: z.string().optional() })).optional(),
  healthcheck: z.looseObject({ test: z.array(z.string()) }).optional(),
  stop_grace_period: z.string().optional(),
});
const composeSchema = z.looseObject({ services: z.record(z.string(), serviceSchema) });
type Service = z.infer<typeof serviceSchema>;

interface ComposeRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs docker-compose on our file with a clean environment and our own env file (neither the caller's shell nor a local `.env` may change what is checked). */
async function compose(args: readonly string[], envFile: string): Promise<ComposeRun> {
  try {
    const { stdout, stderr } = await execFileAsync('docker-compose', ['--env-file', envFile, '-f', 'docker-compose.yml', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: tmpdir() },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { code?: string | number; stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') {
      throw new Error(
        'docker-compose is not installed, so docker-compose.yml cannot be validated. Install it: ' +
          '`sudo apt-get install --no-install-recommends docker-compose` (npm test does this when run as root).',
      );
    }
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

/** Variables docker-compose.yml gives a default of its own (`${VAR:-…}`): left out of the env file, so that default shows. */
const COMPOSE_DEFAULTS = new Set<string>(['SESSION_STORE']);

/** Every config variable set to a valid value: its default, or a stand-in (LOG_LEVEL: a non-default, to see it arrive). */
function writeEnvFile(dir: string): string {
  const standIn: Partial<Record<ConfigVariable, string>> = { LOG_LEVEL: 'debug', API_KEY: 'k'.repeat(32), CHROMIUM_PATH: '/usr/bin/chromium', WAQ_SIM_URL: 'http://127.0.0.1:1' };
  const lines = configReference()
    .filter((row) => !COMPOSE_DEFAULTS.has(row.name))
    .map((row) => `${row.name}=${standIn[row.name] ?? row.default ?? 'x'}`);
  const file = path.join(dir, '.env');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** The compose file as docker-compose resolves it (anchors merged, variables from the env file). */
async function resolveCompose(envFile: string): Promise<z.infer<typeof composeSchema>> {
  // Compose v2 prints JSON; v1 (Debian's docker-compose, a Python program) only YAML — it answers
  // `--format` with its usage text — which its own Python can turn into JSON.
  const v2 = await compose(['config', '--format', 'json'], envFile);
  if (v2.code === 0 && v2.stdout.trimStart().startsWith('{')) return composeSchema.parse(JSON.parse(v2.stdout));
  const v1 = await compose(['config'], envFile);
  if (v1.code !== 0) throw new Error(`docker-compose config failed:\n${v1.stderr}`);
  const json = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: v1.stdout, encoding: 'utf8' });
  if (json.status !== 0) throw new Error(`python3 could not turn docker-compose's YAML into JSON: ${json.stderr}`);
  return composeSchema.parse(JSON.parse(json.stdout));
}

const volumeTargets = (service: Service): string[] => (service.volumes ?? []).map((v) => (typeof v === 'string' ? (v.split(':')[1] ?? '') : v.target));
const seconds = (duration: string | undefined): number => {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  return match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : Number.NaN;
};

describe('docker-compose.yml', () => {
  // docker-compose v1 takes a second or two per run: run it once per question, up front and in parallel.
  let validation: ComposeRun;
  let services: Record<string, Service>;
  let tempDir: string | undefined;
  beforeAll(async () => {
    tempDir = mkdtempSync(path.join(tmpdir(), 'waq-compose-'));
    const envFile = writeEnvFile(tempDir);
    [validation, { services }] = await Promise.all([compose(['config', '-q'], envFile), resolveCompose(envFile)]);
  }, 60_000);
  afterAll(() => {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  });

  it('is valid (`docker-compose config -q`)', () => {
    expect(validation.code, `docker-compose config -q failed:\n${validation.stderr}`).toBe(0);
  });

  it('wires redis, worker and api as DESIGN.md and the Dockerfile say', () => {
    const { redis, worker, api } = services;
    expect(redis && worker && api, 'services redis, worker and api').toBeTruthy();
    if (!redis || !worker || !api) return;

    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.command?.join(' ')).toMatch(/--appendfsync everysec/);
    expect(redis.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(volumeTargets(redis)).toContain('/data');
    expect(redis.healthcheck?.test.join(' ')).toMatch(/redis-cli ping/);

    const stages = new Set(parseDockerfile(read('Dockerfile')).filter((i) => i.keyword === 'FROM').map((i) => i.stage));
    for (const [name, service, portVariable] of [['worker', worker, 'WORKER_PORT'], ['api', api, 'API_PORT']] as const) {
      expect(service.depends_on?.['redis']?.condition, `${name} depends on a healthy redis`).toBe('service_healthy');
      expect(stages, `${name}: build target`).toContain(service.build?.target);
      const port = service.environment?.[portVariable];
      expect(service.healthcheck?.test.join(' '), `${name}: health check on ${portVariable}`).toContain(`127.0.0.1:${port}/healthz`);
      // DATA_DIR (the API key) and SESSION_DIR (the WhatsApp session) must be on a volume.
      const dirs = name === 'worker' ? ['SESSION_DIR', 'WWEBJS_CACHE_DIR'] : ['DATA_DIR'];
      for (const variable of dirs) {
        const dir = service.environment?.[variable] ?? '';
        expect(path.posix.isAbsolute(dir), `${name}: ${variable} must be an absolute path in the container`).toBe(true);
        expect(volumeTargets(service).some((target) => dir === target || dir.startsWith(`${target}/`)), `${name}: ${variable}=${dir} on a volume`).toBe(true);
      }
    }

    // The worker needs up to SHUTDOWN_TIMEOUT_MS to finish the active job and close Chromium.
    const shutdownMs = Number(configReference().find((row) => row.name === 'SHUTDOWN_TIMEOUT_MS')?.default);
    expect(seconds(worker.stop_grace_period), 'worker stop_grace_period: SHUTDOWN_TIMEOUT_MS plus 10 s at least').toBeGreaterThanOrEqual(shutdownMs / 1_000 + 10);
    // The API key goes to the API only.
    expect(Object.keys(worker.environment ?? {})).not.toContain('API_KEY');
  });

  it('gives the standby worker a volume of its own and keeps both workers\' profiles in Redis', () => {
    const { worker, 'worker-standby': standby } = services;
    expect(standby?.profiles).toEqual(['standby']);
    const sources = (service: Service | undefined): string[] => (service?.volumes ?? []).map((v) => (typeof v === 'string' ? (v.split(':')[0] ?? '') : (v.source ?? '')));
    expect(sources(standby)).toHaveLength(1);
    expect(sources(worker)).not.toContain(sources(standby)[0]);
    // Neither disk holds the other's profiles: the session store is how a session moves.
    expect(worker?.environment?.['SESSION_STORE']).toBe('redis');
    expect(standby?.environment?.['SESSION_STORE']).toBe('redis');
    // The API reads the backups' age from the same store.
    expect(services['api']?.environment?.['SESSION_STORE']).toBe('redis');
  });

  it('passes every config variable to the apps, except the few it deliberately does not', () => {
    const passed = new Set([...Object.keys(services['api']?.environment ?? {}), ...Object.keys(services['worker']?.environment ?? {})]);
    for (const row of configReference()) {
      if (NOT_PASSED.has(row.name)) expect(passed, `${row.name} is not passed (${NOT_PASSED.get(row.name)})`).not.toContain(row.name);
      else expect(passed, `docker-compose.yml does not pass ${row.name}: add it to x-waq-environment (or to NOT_PASSED here, with the reason)`).toContain(row.name);
    }
    // A value set in .env reaches the containers.
    expect(services['worker']?.environment?.['LOG_LEVEL']).toBe('debug');
    expect(services['api']?.environment?.['API_KEY']).toBe('k'.repeat(32));
  });
});
