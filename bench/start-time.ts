/**
 * How long Kediri ID takes to start: from spawning `node bin/kediri-id.js serve` (the build, made
 * first) to the first 200 of discovery, polled every 50 ms. On the embedded database a first start
 * (an empty DATA_DIR) and a restart; with a PostgreSQL server, a first start on a fresh database
 * and a restart. bench/bench.ts prints these beside the targets of issue 18; alone (with the
 * README's development settings instead of the benchmark's production ones):
 *
 *   npm run bench:start                                    (embedded database, temp DATA_DIR)
 *   BENCH_DATABASE_URL=postgres://... npm run bench:start  (also PostgreSQL: a fresh database beside that one)
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { sampleProcess } from './support.js';
import { freePort } from '../tests/support/process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const POLL_MS = 50;

export interface StartTime {
  name: string;
  seconds: number;
  /** The server's CPU time until then (utime+stime): on a busy machine, the part of the wait that was its own work. */
  cpuSeconds: number;
  /** The most it may take (issue 18). */
  targetSeconds: number;
}

/** From spawning `kediri-id serve` with env to discovery's first 200; the server is stopped after. */
async function timeOneStart(env: NodeJS.ProcessEnv): Promise<{ seconds: number; cpuSeconds: number }> {
  const port = await freePort();
  const scheme = env.ISSUER?.startsWith('https:') ? 'https' : 'http';
  const started = performance.now();
  const server = spawn(process.execPath, ['bin/kediri-id.js', 'serve'], {
    cwd: ROOT,
    env: { ...env, PORT: String(port), ISSUER: `${scheme}://127.0.0.1:${port}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr!.on('data', (d) => (stderr += d));
  try {
    const deadline = started + 120_000;
    while (performance.now() < deadline) {
      if (server.exitCode !== null) throw new Error(`the server exited with status ${server.exitCode}: ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': scheme } })
        .then((res) => res.ok, () => false);
      if (ok) return { seconds: (performance.now() - started) / 1000, cpuSeconds: sampleProcess(server.pid!).cpuSeconds };
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(`the server did not answer discovery within 120 s: ${stderr}`);
  } finally {
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
  }
}

/** A new database on the server of databaseUrl, then dropped: each run's first start is on an empty one. */
async function withFreshDatabase<T>(databaseUrl: string, fn: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const name = `kediri_start_${process.pid}_${Date.now()}`;
  try {
    await admin.query(`create database ${name}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${name}`;
    try {
      return await fn(url.toString());
    } finally {
      // With force: behind a pooler, its server connections to the database outlive the server.
      await admin.query(`drop database if exists ${name} with (force)`);
    }
  } finally {
    await admin.end();
  }
}

/**
 * The start times with env (its PORT, ISSUER's host, DATA_DIR and DATABASE_URL are replaced): the
 * embedded database in a temporary DATA_DIR, and PostgreSQL, with env's WORKERS, when databaseUrl
 * is given.
 */
export async function measureStartTimes(env: NodeJS.ProcessEnv, databaseUrl?: string): Promise<StartTime[]> {
  // The build as `npm install` makes it, of the code as it is now: older than the sources,
  // bin/kediri-id.js would run those instead.
  if (spawnSync(process.execPath, ['scripts/build.js'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  const times: StartTime[] = [];
  const dataDir = await mkdtemp(join(os.tmpdir(), 'kediri-start-'));
  try {
    // The embedded database belongs to one process: no WORKERS there.
    const embedded: NodeJS.ProcessEnv = { ...env, DATA_DIR: dataDir };
    delete embedded.DATABASE_URL;
    delete embedded.DATABASE_LISTEN_URL;
    delete embedded.DATABASE_PREPARED_STATEMENTS;
    delete embedded.WORKERS;
    times.push({ name: 'start, embedded, empty DATA_DIR', ...(await timeOneStart(embedded)), targetSeconds: 5 });
    times.push({ name: 'start, embedded, restart', ...(await timeOneStart(embedded)), targetSeconds: 2.5 });
    if (databaseUrl) {
      await withFreshDatabase(databaseUrl, async (url) => {
        const postgres = { ...env, DATA_DIR: dataDir, DATABASE_URL: url };
        times.push({ name: 'start, PostgreSQL, empty database', ...(await timeOneStart(postgres)), targetSeconds: 1.5 });
        times.push({ name: 'start, PostgreSQL, restart', ...(await timeOneStart(postgres)), targetSeconds: 1.5 });
      });
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  return times;
}

/** One line per start: its time beside its target. */
export function formatStartTimes(times: StartTime[]): string {
  return times
    .map((t) => `${t.name}: ${t.seconds.toFixed(2)} s, server CPU ${t.cpuSeconds.toFixed(2)} s (target ≤ ${t.targetSeconds} s: ${t.seconds <= t.targetSeconds ? 'met' : 'MISSED'})`)
    .join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = { ...process.env, LOG_LEVEL: 'warn' };
  console.log(formatStartTimes(await measureStartTimes(env, process.env.BENCH_DATABASE_URL)));
}
