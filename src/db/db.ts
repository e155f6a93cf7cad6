/** The one database interface: both drivers (pg Pool, embedded PGlite) implement it. */

export interface Rows<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  /** One statement with $1..$n parameters. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Rows<T>>;
  /** A script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /** Runs fn in one transaction: committed when fn resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Hears NOTIFY on channel (a plain identifier) until the database is closed: onMessage gets each
   * payload; onListening(false) says notifications may be missed from now on (the connection
   * dropped; it reconnects by itself), onListening(true) that they are heard again.
   */
  listen(channel: string, onMessage: (payload: string) => void, onListening: (listening: boolean) => void): Promise<void>;
  /** The embedded database only: its whole data directory, a gzipped tar (kediri-id backup). */
  snapshot?(): Promise<Uint8Array>;
  /** Statements this process has sent to the database since it opened (transactions' begin and end included). */
  statements(): number;
  /** PostgreSQL only: the connections of this process's pool. */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/** Whether a query failed on a unique index (PostgreSQL's and PGlite's SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23505';
}

/**
 * Whether JSON text holds what PostgreSQL's jsonb refuses: an escaped NUL, or an escaped lone
 * surrogate (JSON.stringify escapes only lone ones). Such input is the sender's fault (400).
 */
export function unstorableInJson(json: string): boolean {
  return /\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(json);
}

/** PostgreSQL unreachable, shutting down, refusing connections or out of them: the service answers 503 and recovers by itself. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE'].includes(String(code)) ||
    /^(57P0[1-3]|08\d{3}|53300)$/.test(String(code)) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|connection error and is not queryable|not currently accepting connections/i.test(String((error as Error)?.message))
  );
}
