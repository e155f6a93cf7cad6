/**
 * A PostgreSQL cluster of a benchmark's own (npm run soak, BENCH_CLUSTER=1 npm run bench): initdb
 * in a directory of the caller's, the server listening on 127.0.0.1 at a free port, one empty
 * database, and the settings given.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../tests/support/process.js';

export interface Cluster {
  url: string;
  start(): Promise<void>;
  /** Immediate: the server processes end at once, as in a crash (recovery from the WAL at the next start). Nothing when stopped. */
  stop(): Promise<void>;
}

/**
 * Production settings for a machine of 8 GB given to PostgreSQL (docs/performance.md): a quarter of
 * it in shared buffers, the rest counted as the operating system's cache, SSD-priced random reads,
 * and checkpoints rare enough not to land in a short benchmark phase.
 */
export const PRODUCTION_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '2GB',
  effective_cache_size: '6GB',
  random_page_cost: '1.1',
  work_mem: '16MB',
  maintenance_work_mem: '512MB',
  max_wal_size: '8GB',
  checkpoint_timeout: '30min',
};

const run = promisify(execFile);

/** initdb and pg_ctl: on PATH, else Debian's newest /usr/lib/postgresql/<version>/bin. */
function postgresBinDir(): string {
  const onPath = (process.env.PATH ?? '').split(':').find((dir) => dir && existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'initdb')));
  if (onPath) return onPath;
  const debian = '/usr/lib/postgresql';
  const newest = existsSync(debian) ? readdirSync(debian).map(Number).filter(Number.isInteger).sort((a, b) => b - a)[0] : undefined;
  if (newest === undefined) throw new Error('initdb and pg_ctl not found: install the PostgreSQL server (15 or later)');
  return join(debian, String(newest), 'bin');
}

/** PostgreSQL refuses to run as root: as root, its commands run as the postgres user. */
const asRoot = process.getuid?.() === 0;
async function postgresCommand(bin: string, args: string[]): Promise<void> {
  const [command, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  await run(command, argv, { timeout: 120_000 });
}

/** A new cluster in dir/postgresql, started, with the database `database` created. */
export async function createCluster(dir: string, database: string, settings: Record<string, string> = {}): Promise<Cluster> {
  if (Object.entries(settings).some(([name, value]) => !/^[a-z_]+$/.test(name) || !/^[\w.]+$/.test(value))) throw new Error('cluster settings: names and plain values only');
  const bin = postgresBinDir();
  const home = join(dir, 'postgresql');
  await mkdir(home);
  if (asRoot) {
    const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
    await chmod(dir, 0o711);
    await chown(home, await id('-u'), await id('-g'));
  }
  const data = join(home, 'data');
  const port = await freePort();
  await postgresCommand(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  const pgCtl = (...args: string[]) => postgresCommand(join(bin, 'pg_ctl'), ['-D', data, '-w', '-t', '60', ...args]);
  const options = [`-p ${port}`, `-k ${home}`, '-c listen_addresses=127.0.0.1', ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`)];
  let running = false;
  const cluster: Cluster = {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      await pgCtl('-l', join(home, 'postgresql.log'), '-o', options.join(' '), 'start');
      running = true;
    },
    async stop() {
      if (!running) return;
      await pgCtl('-m', 'immediate', 'stop');
      running = false;
    },
  };
  await cluster.start();
  try {
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    await admin.query(`create database ${database}`).finally(() => admin.end());
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
