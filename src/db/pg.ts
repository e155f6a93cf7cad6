import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, Queryable, Rows } from './db.js';

const RECONNECT_MS = 1000;
/** How often a listening connection is checked, and how long its answer may take. */
const PING_EVERY_MS = 5000;
const PING_TIMEOUT_MS = 3000;
/** The application_name of the connection that listens for notifications. */
export const LISTENER_NAME = 'kediri-id listener';

export interface PgOptions {
  /** Connections of the pool at most. */
  max: number;
  /** Where the one listening connection goes (LISTEN needs a session): connectionString unless given. */
  listenUrl?: string;
  /**
   * Whether a statement with parameters is prepared once per connection (named by a hash of its
   * text) rather than parsed and planned at every call (default true). A pooler in transaction
   * mode that does not track prepared statements (PgBouncer before 1.21) needs false: the next
   * transaction may run on a server connection that never saw the statement.
   */
  preparedStatements?: boolean;
}

/** A Db over a PostgreSQL server (pg Pool), with one connection of its own that listens. */
export function openPgDb(connectionString: string, options: PgOptions): Db {
  const listenUrl = options.listenUrl ?? connectionString;
  const prepared = options.preparedStatements ?? true;
  // A database that does not take a connection within 5 s fails the request (503), not hangs it.
  const pool = new pg.Pool({ connectionString, max: options.max, connectionTimeoutMillis: 5000 });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  let sent = 0;
  const statementNames = new Map<string, string>();
  const nameOf = (sql: string) => {
    let name = statementNames.get(sql);
    if (!name) {
      name = createHash('sha256').update(sql).digest('base64url').slice(0, 32);
      statementNames.set(sql, name);
    }
    return name;
  };

  const over = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: unknown[]): Promise<Rows<T>> {
      sent++;
      const result = params?.length
        ? await client.query(prepared ? { name: nameOf(sql), text: sql, values: params } : { text: sql, values: params })
        : await client.query(sql);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(sql: string) {
      sent++;
      await client.query(sql);
    },
  });

  // The listening connection (listen): its channels, the connection while it is up, and its retry.
  const listeners: Array<{ channel: string; onMessage: (payload: string) => void; onListening: (listening: boolean) => void }> = [];
  let listening: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;
  const told = (up: boolean) => {
    for (const listener of listeners) listener.onListening(up);
  };
  const drop = (client: pg.Client) => {
    if (listening !== client) return;
    listening = undefined;
    told(false);
    client.end().catch(() => {});
    if (!stopped) retry = setTimeout(reconnect, RECONNECT_MS);
  };
  async function connect(): Promise<void> {
    // Named, so that an operator (and a test) can tell it in pg_stat_activity.
    const client = new pg.Client({ connectionString: listenUrl, keepAlive: true, application_name: LISTENER_NAME });
    client.on('error', () => drop(client));
    client.on('end', () => drop(client));
    client.on('notification', (message) => {
      for (const listener of listeners) if (listener.channel === message.channel) listener.onMessage(message.payload ?? '');
    });
    try {
      await client.connect();
      for (const channel of new Set(listeners.map((l) => l.channel))) await client.query(`listen ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (stopped) {
      await client.end().catch(() => {});
      return;
    }
    listening = client;
    told(true);
    const ping = setInterval(() => {
      if (listening !== client) return clearInterval(ping);
      const late = setTimeout(() => drop(client), PING_TIMEOUT_MS).unref();
      client.query('select 1').then(() => clearTimeout(late), () => drop(client));
    }, PING_EVERY_MS);
    ping.unref();
  }
  function reconnect() {
    connect().catch(() => {
      if (!stopped) retry = setTimeout(reconnect, RECONNECT_MS);
    });
  }

  return {
    driver: 'pg',
    ...over(pool),
    async transaction(fn) {
      const client = await pool.connect();
      // The pool stops listening for a client's errors while it is lent out: a connection that
      // dies mid-transaction (the server stopped) would otherwise end the process. Such a client
      // is destroyed on release, not returned to the pool.
      let lost: Error | undefined;
      const onError = (error: Error) => (lost = error);
      client.on('error', onError);
      try {
        sent += 2; // begin and commit (or rollback)
        await client.query('begin');
        const result = await fn(over(client));
        await client.query('commit');
        return result;
      } catch (error) {
        // A connection that cannot roll back is not fit for the pool either.
        await client.query('rollback').catch((rollbackError: Error) => (lost ??= rollbackError));
        throw error;
      } finally {
        client.off('error', onError);
        client.release(lost);
      }
    },
    /**
     * One connection of its own (not from the pool) listens on every channel asked for, and is
     * reconnected a second after it drops. It is asked a question every few seconds: one that
     * does not answer in time (a link that died without a word) counts as dropped, since changes
     * would be missed on it.
     */
    async listen(channel, onMessage, onListening) {
      if (!/^[a-z_]+$/.test(channel)) throw new Error(`not a channel name: ${channel}`);
      listeners.push({ channel, onMessage, onListening });
      if (listening) {
        await listening.query(`listen ${channel}`);
        onListening(true);
      } else {
        connecting ??= connect().finally(() => (connecting = undefined));
        await connecting;
      }
    },
    statements: () => sent,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      stopped = true;
      clearTimeout(retry);
      const client = listening;
      listening = undefined;
      if (client) told(false);
      await client?.end().catch(() => {});
      await pool.end();
    },
  };
}
