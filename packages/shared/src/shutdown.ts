/**
 * Graceful shutdown: a registry of named steps run in reverse registration order (last started,
 * first stopped), each logged, every step attempted even when an earlier one throws, the whole bounded
 * by a deadline. The first SIGINT/SIGTERM starts it; a second one forces the exit. The exit code is
 * 128 + the signal number, as a shell would report a process killed by that signal.
 */
import { constants } from 'node:os';

import type { Logger } from './logger.js';

export interface ShutdownRegistry {
  /** Registers a step; steps run in reverse order of registration. */
  add(name: string, step: () => Promise<void> | void): void;
  /** Runs every step once (later calls return the same promise). Resolves when all have settled. */
  run(reason: string): Promise<void>;
  /** Runs `run()` on the first SIGINT/SIGTERM and exits; a second signal exits at once. */
  installSignalHandlers(): void;
}

export interface ShutdownOptions {
  readonly logger: Logger;
  /** SHUTDOWN_TIMEOUT_MS */
  readonly timeoutMs: number;
  /** Injectable for tests. @defaultValue process.exit */
  readonly exit?: (code: number) => void;
}

export function createShutdown({ logger, timeoutMs, exit = (code) => process.exit(code) }: ShutdownOptions): ShutdownRegistry {
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  let running: Promise<void> | undefined;

  async function runSteps(): Promise<void> {
    for (const { name, step } of [...steps].reverse()) {
      const started = Date.now();
      try {
        await step();
        logger.info({ step: name, ms: Date.now() - started }, `shutdown: ${name} done`);
      } catch (error) {
        logger.error({ err: error, step: name }, `shutdown: ${name} failed; continuing`);
      }
    }
  }

  const registry: ShutdownRegistry = {
    add(name, step) {
      steps.push({ name, step });
    },
    run(reason) {
      running ??= (async () => {
        logger.info({ reason, timeoutMs }, 'shutting down');
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
          timer.unref();
        });
        const outcome = await Promise.race([runSteps().then(() => 'done' as const), deadline]);
        clearTimeout(timer);
        if (outcome === 'timeout') logger.error({ timeoutMs }, 'shutdown deadline passed; exiting with steps unfinished');
        else logger.info('shutdown complete');
      })();
      return running;
    },
    installSignalHandlers() {
      const onSignal = (signal: NodeJS.Signals): void => {
        const code = 128 + (constants.signals[signal] ?? 15);
        if (running !== undefined) {
          logger.warn({ signal }, 'second signal: exiting now');
          exit(code);
          return;
        }
        void registry.run(signal).then(() => exit(code));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  };
  return registry;
}
