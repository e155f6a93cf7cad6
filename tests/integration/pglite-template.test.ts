import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { migrate } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { openPgliteDb } from '../../src/db/pglite.js';
import { TEST_ENV } from '../support/env.js';

const MIGRATIONS = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * An empty DATA_DIR starts as a copy of the build's template (an embedded database with every
 * migration applied, dist/pglite-template), made here as the build makes it. On the embedded
 * database on every run: it is the subject.
 */
describe('the embedded database from the template', () => {
  let scratch: string;
  let template: string;
  const config = (dataDir: string) => loadConfig({ ...TEST_ENV, DATA_DIR: dataDir });

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kediri-template-'));
    template = join(scratch, 'template');
    const db = await openPgliteDb(template);
    await migrate(db);
    await db.close();
  }, 120_000);
  afterAll(() => rm(scratch, { recursive: true, force: true }));

  test('a new DATA_DIR gets a migrated database of its own; the template is left as it was; a restart keeps the data', async () => {
    const dataDir = join(scratch, 'first');
    const db = await openDatabase(config(dataDir), template);
    try {
      const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql'));
      expect(await migrate(db)).toEqual([]);
      expect((await db.query('select name from schema_migrations')).rowCount).toBe(files.length);
      await db.query("insert into units (slug, name) values ('probe-unit', 'Probe')");
    } finally {
      await db.close();
    }
    const again = await openDatabase(config(dataDir), template);
    try {
      expect((await again.query("select 1 from units where slug = 'probe-unit'")).rowCount).toBe(1);
    } finally {
      await again.close();
    }
    const original = await openPgliteDb(template);
    try {
      expect((await original.query("select 1 from units where slug = 'probe-unit'")).rowCount).toBe(0);
    } finally {
      await original.close();
    }
  });

  test('a copy cut short (a crash while copying) is made again, never opened as a database', async () => {
    const dataDir = join(scratch, 'interrupted');
    await mkdir(join(dataDir, 'pglite.copying', 'base'), { recursive: true });
    await writeFile(join(dataDir, 'pglite.copying', 'PG_VERSION'), '17\n');
    const db = await openDatabase(config(dataDir), template);
    try {
      expect((await db.query('select 1 from units')).rowCount).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
    expect((await readdir(dataDir)).sort()).toEqual(['pglite']);
  });

  test('without a template (running from the sources) PGlite makes the database itself', async () => {
    const dataDir = join(scratch, 'no-template');
    const db = await openDatabase(config(dataDir), join(scratch, 'absent'));
    try {
      expect(await migrate(db)).toContain('001_foundation.sql');
    } finally {
      await db.close();
    }
  });
});
