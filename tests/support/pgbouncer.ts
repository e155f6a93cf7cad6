/**
 * A PgBouncer of the test's own (Debian's package: 1.18 on bookworm) in transaction mode in front
 * of the PostgreSQL server that DATABASE_URL names. Where pgbouncer is not installed its tests are
 * skipped with a note, unless REQUIRE_PGBOUNCER=1 (CI, .ci/run), where that is a failure.
 */
import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './process.js';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

function pgbouncerAvailable(): boolean {
  try {
    accessSync(PGBOUNCER, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * describe() for tests through PgBouncer, on PostgreSQL runs only. Without pgbouncer: skipped with
 * a console note, or, when REQUIRE_PGBOUNCER=1, replaced by one test that fails and says why.
 */
export function describeBehindPgBouncer(name: string, body: () => void): void {
  if (!process.env.DATABASE_URL) {
    describe.skip(name, body);
  } else if (pgbouncerAvailable()) {
    describe(name, body);
  } else if (process.env.REQUIRE_PGBOUNCER === '1') {
    describe(name, () => {
      // REQUIRE_PGBOUNCER=1: a missing pgbouncer fails (install Debian's pgbouncer package), never skips.
      test('PgBouncer is installed', () => {
        expect({ pgbouncer: PGBOUNCER, installedAndExecutable: pgbouncerAvailable() }).toEqual({ pgbouncer: PGBOUNCER, installedAndExecutable: true });
      });
    });
  } else {
    console.warn(`Skipping "${name}": ${PGBOUNCER} is not installed (apt-get install pgbouncer; set REQUIRE_PGBOUNCER=1 to make this a failure).`);
    describe.skip(name, body);
  }
}

export interface PgBouncer {
  /** url with its host and port replaced by the pooler's: the same database and user, through PgBouncer. */
  pooled(url: string): string;
  /** How many transactions PgBouncer has passed to database so far (its admin console's SHOW STATS). */
  transactions(database: string): Promise<number>;
  /** What PgBouncer wrote to standard error so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * Starts pgbouncer on a free port of 127.0.0.1 in transaction mode (trust authentication, every
 * database of `server`), with a generated ini in a directory of its own, and waits until it
 * accepts connections. Run as root (CI), it drops to the postgres system user, as it must.
 */
export async function startPgBouncer(server: string, { poolSize = 20 } = {}): Promise<PgBouncer> {
  const target = new URL(server);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'kediri-pgbouncer-'));
  // Readable by the user pgbouncer drops to; nothing in it is secret (trust authentication).
  await chmod(dir, 0o755);
  const user = decodeURIComponent(target.username || 'postgres');
  await writeFile(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 });
  const ini = [
    '[databases]',
    `* = host=${target.hostname} port=${target.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 500',
    `admin_users = ${user}`,
    ...(process.getuid?.() === 0 ? ['user = postgres'] : []),
  ];
  await writeFile(join(dir, 'pgbouncer.ini'), `${ini.join('\n')}\n`, { mode: 0o644 });

  const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with ${child.exitCode}: ${log}`);
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on 127.0.0.1:${port}: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    pooled(url) {
      const through = new URL(url);
      through.hostname = '127.0.0.1';
      through.port = String(port);
      return through.toString();
    },
    async transactions(database) {
      // The admin console takes the simple query protocol only: a query without parameters.
      const admin = new pg.Client({ connectionString: `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer` });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ database: string; total_xact_count: string }>('show stats');
        return Number(rows.find((row) => row.database === database)?.total_xact_count ?? 0);
      } finally {
        await admin.end();
      }
    },
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
