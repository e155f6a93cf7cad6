import { openPgDb } from './dist/db/pg.js';
import { migrate } from './dist/db/migrate.js';
import pg from 'pg';
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' }); await admin.connect();
for (let i = 0; i < 3; i++) {
  const name = `kediri_fs_m${process.pid}_${i}`;
  await admin.query(`create database ${name}`);
  const db = openPgDb(`postgres://postgres@127.0.0.1:5432/${name}`, { max: 2 });
  if (process.env.ASYNC) { /* via options */ }
  const t0 = performance.now();
  await migrate(db);
  console.log(`${process.env.LABEL} migrate ${(performance.now() - t0).toFixed(0)} ms`);
  await db.close();
  await admin.query(`drop database ${name}`);
}
await admin.end();
