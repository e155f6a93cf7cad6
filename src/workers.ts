import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import type { Logger } from './log.js';

const RESTART_AFTER_MS = 1000;

/**
 * WORKERS above 1: this process serves nothing itself. It starts that many server processes
 * (node:cluster; they share PORT and the primary hands connections to them in turn) and starts a
 * new one a second after any dies. Every state is in PostgreSQL, so any process serves any
 * request. On SIGTERM or SIGINT each worker is told to stop, and this process ends after them.
 */
export function superviseWorkers(config: Config, log: Logger): Promise<number> {
  let stopping = false;
  const start = (): Worker => {
    const worker = cluster.fork();
    worker.once('exit', (code, signal) => {
      if (stopping) return;
      log.error({ worker: worker.process.pid, code, signal }, 'a server process ended; starting another');
      setTimeout(() => !stopping && start(), RESTART_AFTER_MS);
    });
    return worker;
  };
  for (let i = 0; i < config.workers; i++) start();
  log.info({ workers: config.workers, port: config.port }, 'Kediri ID server processes started');

  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      const running = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker && !worker.isDead());
      let left = running.length;
      if (left === 0) resolve(0);
      for (const worker of running) {
        worker.once('exit', () => --left === 0 && resolve(0));
        worker.process.kill(signal);
      }
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
