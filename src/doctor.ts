import { access } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { ConfigError, loadConfig, type Config } from './config.js';
import type { Db } from './db/db.js';
import { pendingMigrations } from './db/migrate.js';
import { DataDirBusy, openDatabase } from './db/open.js';
import { signingKeyProblems } from './oidc/keys.js';
import { createSealer, storedEncryptionKey } from './secrets.js';

/** How far the server's clock may be from the database's before tokens and codes suffer. */
const MAX_CLOCK_SKEW_SECONDS = 2;
const WAIT_MS = 5000;

interface Finding {
  ok: boolean;
  what: string;
  says: string;
}

/** The channel the notification check announces on and listens to (nothing else uses it). */
const DOCTOR_CHANNEL = 'kediri_doctor';

const within = <T>(ms: number, promise: Promise<T>): Promise<T> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms).unref())]);

/** Where a URL points, without its user name or password (nor the rest of one that does not parse). */
function whereTo(url: string): string {
  const parsed = URL.parse(url);
  if (!parsed) return 'a URL that does not parse';
  return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname.length > 1 ? parsed.pathname : ''}`;
}

/**
 * Runs one statement with parameters on every connection of the pool at once, a few times over.
 * Behind a pooler in transaction mode that does not keep prepared statements (PgBouncer before
 * 1.21) a connection soon meets a server connection that another one prepared the statement on
 * (or that lacks it): says what to set then, else undefined.
 */
async function preparedStatementsProblem(db: Db): Promise<string | undefined> {
  try {
    for (let round = 0; round < 3; round++) {
      await within(WAIT_MS, Promise.all(Array.from({ length: 20 }, (_, i) => db.query('select $1::int as probe', [i]))));
    }
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    if (!/prepared statement/.test(message)) throw error;
    return `${message}: DATABASE_URL goes through a pooler in transaction mode that does not keep prepared statements; set DATABASE_PREPARED_STATEMENTS=false (and DATABASE_LISTEN_URL)`;
  }
}

/**
 * Whether a notification sent through the pool reaches the listening connection in time: what is
 * wrong when it does not, else undefined.
 */
async function notificationProblem(db: Db): Promise<string | undefined> {
  let heard!: () => void;
  const arrived = new Promise<boolean>((resolve) => (heard = () => resolve(true)));
  try {
    await within(WAIT_MS, db.listen(DOCTOR_CHANNEL, () => heard(), () => {}));
  } catch (error) {
    return `cannot listen: ${(error as Error).message}`;
  }
  await db.query(`select pg_notify('${DOCTOR_CHANNEL}', '')`);
  const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), WAIT_MS).unref());
  if (await Promise.race([arrived, late])) return undefined;
  return `heard no notification within ${WAIT_MS / 1000} s: a pooler in transaction mode drops them; set DATABASE_LISTEN_URL to PostgreSQL directly (or a session-mode pool)`;
}

/**
 * `kediri-id doctor`: checks the configuration, the database, the migrations, the encryption and
 * signing keys, on PostgreSQL the prepared statements and notifications (a pooler may break
 * them) and the clock and the mail relay, and prints each in plain words. Changes nothing.
 * Returns the exit status: 0 when every check passed, 1 otherwise.
 */
export async function doctor(env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const findings: Finding[] = [];
  const note = (ok: boolean, what: string, says: string) => {
    findings.push({ ok, what, says });
    print(`${ok ? 'ok  ' : 'FAIL'}  ${what}: ${says}`);
  };

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    note(false, 'configuration', error.message.replace(/^Configuration error: /, ''));
    return 1;
  }
  const database = config.databaseUrl ? `PostgreSQL at ${whereTo(config.databaseUrl)}` : `the embedded database in ${config.dataDir}`;
  note(true, 'configuration', `${config.production ? 'production' : 'NODE_ENV is not production'}; issuer ${config.issuer}; ${database}`);

  let db: Db | undefined;
  try {
    // Opening an embedded database that is not there would make one: say so instead.
    if (!config.databaseUrl && !(await access(join(config.dataDir, 'pglite', 'PG_VERSION')).then(() => true, () => false))) {
      throw new Error('there is none yet (the server makes it on its first start; is DATA_DIR right?)');
    }
    db = await within(WAIT_MS, openDatabase(config));
    const { rows } = await within(WAIT_MS, db.query<{ version: string }>("select current_setting('server_version') as version"));
    note(true, 'database', `${database} answers (PostgreSQL ${rows[0]!.version})`);
  } catch (error) {
    const busy = error instanceof DataDirBusy;
    note(busy, 'database', busy ? `${database} is held by a running server: ask it at /readyz` : `cannot use ${database}: ${(error as Error).message}`);
    await db?.close().catch(() => {});
    db = undefined;
  }

  if (db) {
    try {
      const pending = await pendingMigrations(db);
      note(pending.length === 0, 'migrations', pending.length === 0 ? 'all applied' : `not applied: ${pending.join(', ')} (kediri-id migrate, or start the server)`);

      const encryptionKey = await storedEncryptionKey(config);
      if (!encryptionKey) {
        note(false, 'signing keys', `no ENCRYPTION_KEY and no ${join(config.dataDir, 'secrets.json')}: the server makes both on its first start`);
      } else {
        const problems = await signingKeyProblems(db, createSealer(encryptionKey));
        note(problems.length === 0, 'signing keys', problems.length === 0 ? 'a current RS256 and ES256 key, each readable with ENCRYPTION_KEY' : problems.join('; '));
      }

      if (config.databaseUrl) {
        if (!config.databasePreparedStatements) {
          note(true, 'prepared statements', 'off (DATABASE_PREPARED_STATEMENTS=false): each statement is parsed and planned at every call');
        } else {
          const problem = await preparedStatementsProblem(db);
          note(!problem, 'prepared statements', problem ?? 'prepared once per connection, and each connection keeps them');
        }
        const listening = `the listening connection (${whereTo(config.databaseListenUrl!)})`;
        const unheard = await notificationProblem(db);
        note(!unheard, 'notifications', unheard ? `${listening} ${unheard}` : `${listening} hears changes`);

        const { rows } = await db.query<{ now: number }>('select extract(epoch from clock_timestamp())::float8 as now');
        const skew = Date.now() / 1000 - rows[0]!.now;
        const ok = Math.abs(skew) <= MAX_CLOCK_SKEW_SECONDS;
        note(ok, 'clock', ok ? `within ${MAX_CLOCK_SKEW_SECONDS} s of the database's` : `${skew.toFixed(1)} s off the database's: token lifetimes and one-time codes depend on it; synchronise both with NTP`);
      }
    } finally {
      await db.close();
    }
  }

  if (config.smtpUrl) {
    const relay = whereTo(config.smtpUrl);
    const transport = nodemailer.createTransport(config.smtpUrl);
    try {
      await within(WAIT_MS * 2, transport.verify());
      note(true, 'email', `the mail relay ${relay} accepts us`);
    } catch (error) {
      note(false, 'email', `the mail relay ${relay} does not accept us: ${(error as Error).message}`);
    } finally {
      transport.close();
    }
  } else {
    note(true, 'email', 'no SMTP_URL: messages go to the log (development only; production requires SMTP_URL)');
  }

  const failed = findings.filter((finding) => !finding.ok).length;
  print(failed === 0 ? 'Every check passed.' : `${failed} check(s) failed.`);
  return failed === 0 ? 0 : 1;
}
