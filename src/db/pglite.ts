import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Db, Queryable, Rows } from './db.js';

/**
 * A Db over the embedded PGlite in dataDir ('memory://' for a throw-away database); `from`, a
 * snapshot() of another, fills an empty dataDir with it (kediri-id restore).
 */
export async function openPgliteDb(dataDir: string, from?: Uint8Array): Promise<Db & { pglite: PGlite }> {
  const pglite = await PGlite.create(dataDir, from ? { loadDataDir: new Blob([new Uint8Array(from)]) } : {});

  let sent = 0;
  const over = (client: PGlite | Transaction): Queryable => ({
    async query<T>(sql: string, params?: unknown[]): Promise<Rows<T>> {
      sent++;
      const result = await client.query<T>(sql, params);
      // PGlite reports affectedRows 0 for a SELECT: count the rows returned then, as pg does.
      return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
    },
    async exec(sql: string) {
      sent++;
      await client.exec(sql);
    },
  });

  return {
    driver: 'pglite',
    pglite,
    ...over(pglite),
    transaction: (fn) => {
      sent += 2; // begin and commit (or rollback)
      return pglite.transaction((tx) => fn(over(tx)));
    },
    statements: () => sent,
    // One database in this process: nothing to lose, so it is listening until closed.
    async listen(channel, onMessage, onListening) {
      await pglite.listen(channel, onMessage);
      onListening(true);
    },
    async snapshot() {
      return new Uint8Array(await (await pglite.dumpDataDir('gzip')).arrayBuffer());
    },
    async close() {
      await pglite.close();
    },
  };
}
