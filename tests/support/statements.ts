import type { Db } from '../../src/db/db.js';

/** Every statement the server sends the database while `run` runs ('begin' for a transaction). */
export async function statementsDuring(db: Db, run: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const { query, exec, transaction } = db;
  db.query = (sql, params) => (seen.push(sql), query(sql, params));
  db.exec = (sql) => (seen.push(sql), exec(sql));
  db.transaction = (fn) => (seen.push('begin'), transaction(fn));
  try {
    await run();
  } finally {
    Object.assign(db, { query, exec, transaction });
  }
  return seen;
}
