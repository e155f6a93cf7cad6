import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from '../../src/db/db.js';
import { openPgliteDb } from '../../src/db/pglite.js';
import { newSecret } from '../../src/secrets.js';
import { createTestDb, type TestDb } from './db.js';
import { TEST_ENV } from './env.js';
import { CALLBACK, SITI } from './fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/kediri-id.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`kediri-id ...`) as a separate process. */
export function kediriId(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Served {
  child: ChildProcess;
  /** What the server wrote to standard output so far ('' unless started with captureOutput). */
  stdout(): string;
  /** What the server wrote to standard error so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts `kediri-id serve` and waits until discovery answers. With captureOutput, standard output
 * (the JSON log) is kept too, and stop() waits until both streams are drained.
 */
export async function startServe(env: Record<string, string>, options: { captureOutput?: boolean } = {}): Promise<Served> {
  const capture = options.captureOutput === true;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', capture ? 'pipe' : 'ignore', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const issuer = env.ISSUER ?? `http://localhost:${env.PORT}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${stderr}`);
    const up = await fetch(`http://127.0.0.1:${env.PORT}/.well-known/openid-configuration`).then((r) => r.ok, () => false);
    if (up) break;
    if (Date.now() > deadline) throw new Error(`serve did not come up at ${issuer}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      if (capture) await closed;
    },
  };
}

/**
 * What a test needs to run `kediri-id` processes of its own: an environment with a fresh DATA_DIR
 * and a free port, on the embedded database, or on a fresh PostgreSQL database when DATABASE_URL
 * is set. A test of the embedded database itself says `{ database: 'embedded' }` and gets it on
 * every run. withDatabase opens that database from the test (the embedded one only while no
 * server runs).
 */
export async function processEnvironment(
  extra: Record<string, string> = {},
  { database = process.env.DATABASE_URL ? 'postgres' : 'embedded' }: { database?: 'embedded' | 'postgres' } = {},
) {
  const dataDir = await mkdtemp(join(tmpdir(), 'kediri-process-'));
  const port = String(await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  // An empty DATABASE_URL counts as unset: the processes do not inherit the test run's server.
  const env: Record<string, string> = { DATA_DIR: dataDir, PORT: port, ISSUER: issuer, DATABASE_URL: '', ...TEST_ENV, ...extra };
  let testDb: TestDb | undefined;
  if (database === 'postgres') {
    testDb = await createTestDb();
    env.DATABASE_URL = testDb.url!;
    env.ENCRYPTION_KEY = newSecret();
  }
  return {
    env,
    issuer,
    async withDatabase<T>(fn: (db: Db) => Promise<T>): Promise<T> {
      const db = testDb?.db ?? (await openPgliteDb(join(dataDir, 'pglite')));
      try {
        return await fn(db);
      } finally {
        if (!testDb) await db.close();
      }
    },
    async cleanup(): Promise<void> {
      await testDb?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A client of Samsat made with the CLI (`kediri-id client create`), redirecting to CALLBACK; `options` add to its arguments. */
export async function createClientByCli(env: Record<string, string>, options: string[] = []): Promise<{ clientId: string; clientSecret: string }> {
  const run = await kediriId(['client', 'create', '--unit', 'samsat', '--name', 'Pajak Kendaraan', '--redirect-uri', CALLBACK, ...options], env);
  if (run.code !== 0) throw new Error(`client create failed: ${run.stderr}`);
  const { client_id, client_secret } = JSON.parse(run.stdout) as Record<string, string>;
  return { clientId: client_id!, clientSecret: client_secret! };
}

/** Siti's account made with the CLI (`kediri-id citizen create`, the password on standard input). */
export async function createSitiByCli(env: Record<string, string>): Promise<void> {
  const run = await kediriId(['citizen', 'create', '--nik', SITI.nik, '--name', SITI.name, '--birthdate', SITI.birthdate, '--email', SITI.email], env, SITI.password);
  if (run.code !== 0) throw new Error(`citizen create failed: ${run.stderr}`);
}
