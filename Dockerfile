# syntax=docker/dockerfile:1
#
# waq images: one Dockerfile, two targets, one build.
#
#   docker build --target api    -t waq-api .
#   docker build --target worker -t waq-worker .
#   docker compose up -d          (builds both; see docker-compose.yml and docs/operations.md)
#
# Why one file: the api and the worker are two apps of one pnpm workspace. Both need the repository
# root as build context, the same lockfile, the same `pnpm install` and the same `tsc -b` (which builds
# packages/shared for both). One `build` stage does that once; each target then copies only its own
# `pnpm deploy` output (its dist/ and production node_modules, with @waq/shared's dist/ injected).
#
# The build commands are the README's (its <!-- docker:start --> block; a test compares them):
#   pnpm install --frozen-lockfile →
#   pnpm exec tsc -b apps/api/tsconfig.build.json apps/worker/tsconfig.build.json →
#   pnpm --filter @waq/<app> deploy --prod --legacy <dir>
# tsconfig.build.json, not tsconfig.json: each package's build config leaves out its tests, testing/
# harnesses and test-only modules (the worker's fake driver), so no test code lands in dist/
# (production-build.test.ts checks it). The package tsconfig.json, which the root `tsc -b` uses to
# type-check everything, tests included, writes to .typecheck/, never to dist/.
# `--legacy`: pnpm 10 deploys from a shared lockfile only with `inject-workspace-packages=true`, which
# would turn the workspace's @waq/shared symlinks into copies for development too. The legacy deploy
# resolves against the workspace lockfile (same versions) and copies @waq/shared, dist/ included.

ARG NODE_IMAGE=node:20-bookworm-slim
# Must equal package.json's "packageManager" (a test checks it).
ARG PNPM_VERSION=10.18.0

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
# waq launches Debian's Chromium; puppeteer must never download one (.puppeteerrc.cjs says so too).
ENV PUPPETEER_SKIP_DOWNLOAD=true
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /repo

# Dependencies first (cached until a manifest or the lockfile changes): every workspace package's
# package.json, or the frozen install fails.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .puppeteerrc.cjs ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY packages/shared/package.json packages/shared/
COPY packages/test-utils/package.json packages/test-utils/
COPY packages/wa-sim/package.json packages/wa-sim/
RUN pnpm install --frozen-lockfile

# Sources (node_modules and dist are in .dockerignore, so dist/ starts empty), then the production
# build of the two apps and the packages they reference (shared, wa-sim; not test-utils): not the root
# `tsc -b`, which also builds scripts/ and bench/, and compiles the tests.
COPY tsconfig.base.json ./
COPY apps apps
COPY packages packages
RUN pnpm exec tsc -b apps/api/tsconfig.build.json apps/worker/tsconfig.build.json
RUN pnpm --filter @waq/api deploy --prod --legacy /srv/waq/api
RUN pnpm --filter @waq/worker deploy --prod --legacy /srv/waq/worker

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PUPPETEER_SKIP_DOWNLOAD=true \
    DATA_DIR=/data \
    SESSION_DIR=/data/wwebjs_auth \
    WWEBJS_CACHE_DIR=/data/wwebjs_cache
# /data belongs to the unprivileged `node` user of the base image; a new named volume mounted there
# starts with this ownership. The code stays root-owned: the process cannot modify it.
RUN mkdir -p /data/wwebjs_auth /data/wwebjs_cache && chown -R node:node /data

# ---------------------------------------------------------------------------------------------------
FROM runtime AS api
ENV API_HOST=0.0.0.0 \
    API_PORT=3000
COPY --from=build /srv/waq/api /srv/waq/api
WORKDIR /srv/waq/api
USER node
EXPOSE 3000
# node, not curl: the slim image has no curl. /healthz never touches Redis (a Redis outage must not
# get the API restarted: it answers 503 with Retry-After until Redis is back).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.API_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The app's `start:dist` script. Node is PID 1 and handles SIGTERM itself (graceful shutdown).
CMD ["node", "dist/main.js"]

# ---------------------------------------------------------------------------------------------------
FROM runtime AS worker
# chromium-headless-shell: about half the memory of new-headless `chromium` (packages/wa-sim/README.md);
# the worker finds it at /usr/bin/chromium-headless-shell. tini: PID 1 that reaps Chromium's orphaned
# renderer processes and forwards SIGTERM to node only (Chromium must be closed by the worker, which
# flushes the session profile, not killed by the signal). ca-certificates for Chromium's TLS.
RUN apt-get update \
  && apt-get install -y --no-install-recommends chromium-headless-shell tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*
ENV WORKER_HOST=0.0.0.0 \
    WORKER_PORT=3001
COPY --from=build /srv/waq/worker /srv/waq/worker
WORKDIR /srv/waq/worker
USER node
EXPOSE 3001
# The worker needs up to SHUTDOWN_TIMEOUT_MS (30 s) to stop: give `docker stop` a longer timeout
# (`docker stop -t 45`; docker-compose.yml sets stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.WORKER_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# The app's `start:dist` script.
CMD ["node", "dist/main.js"]
