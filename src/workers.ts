import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { serveMetrics } from './metrics.js';

/** A worker that dies sooner than this after its start counts as failing to start. */
const EARLY_DEATH_MS = 30_000;
/** After this many early deaths in a row the supervisor gives up (exit status 1): see the log. */
const MAX_EARLY_DEATHS = 5;

/**
 * WORKERS above 1: this process serves nothing itself. It starts that many server processes
 * (node:cluster; they share PORT and the primary hands connections to them in turn) and starts a
 * new one when one dies: after a second, doubling with each death soon after a start (a minute
 * at most), and it exits with status 1 when five in a row died soon after starting and none is
 * left serving (the database is unreachable, the configuration is wrong), so that whatever runs
 * it sees the failure. Every state is in PostgreSQL, so any process serves any request. On
 * SIGTERM or SIGINT each worker is told to stop, and this process ends after them. METRICS_PORT,
 * when set, serves every worker's figures.
 */
export async function superviseWorkers(config: Config, log: Logger): Promise<number> {
  let stopping = false;
  let earlyDeaths = 0;
  const metricsServer = config.metrics ? await serveMetrics(config.metrics.host, config.metrics.port, undefined) : undefined;

  return new Promise((resolve) => {
    const start = (): Worker => {
      const startedAt = Date.now();
      const worker = cluster.fork();
      worker.once('exit', (code, signal) => {
        if (stopping) return;
        earlyDeaths = Date.now() - startedAt < EARLY_DEATH_MS ? earlyDeaths + 1 : 0;
        // While another process still serves, it goes on (waiting at most a minute between starts).
        const anyAlive = Object.values(cluster.workers ?? {}).some((other) => other && other !== worker && !other.isDead());
        if (earlyDeaths >= MAX_EARLY_DEATHS && !anyAlive) {
          log.error({ worker: worker.process.pid, code, signal }, `${MAX_EARLY_DEATHS} server processes in a row ended soon after starting; giving up`);
          stop('SIGTERM', 1);
          return;
        }
        const delay = Math.min(60_000, 1000 * 2 ** Math.max(0, earlyDeaths - 1));
        log.error({ worker: worker.process.pid, code, signal, restartInMs: delay }, 'a server process ended; starting another');
        setTimeout(() => !stopping && start(), delay);
      });
      return worker;
    };

    const stop = (signal: NodeJS.Signals, status = 0) => {
      if (stopping) return;
      stopping = true;
      metricsServer?.close();
      const running = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker && !worker.isDead());
      let left = running.length;
      if (left === 0) resolve(status);
      for (const worker of running) {
        worker.once('exit', () => --left === 0 && resolve(status));
        worker.process.kill(signal);
      }
    };
    // A second signal (a terminal signals every process in its group) changes nothing.
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));

    for (let i = 0; i < config.workers; i++) start();
    log.info({ workers: config.workers, port: config.port }, 'Kediri ID server processes started');
  });
}
