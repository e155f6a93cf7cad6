import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { newSecret } from '../../src/secrets.js';
import { kediriId, processEnvironment, startServe } from '../support/process.js';

/** `kediri-id doctor` against a real installation that has served once (migrated, keys made). */
describe('kediri-id doctor', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    setup = await processEnvironment();
    env = setup.env;
    // With PostgreSQL, a password in the URL (trust authentication ignores it): it must not be printed.
    if (env.DATABASE_URL) env = { ...env, DATABASE_URL: env.DATABASE_URL.replace('://', '://postgres:rahasia-basis-data@') };
    await (await startServe(env)).stop();
  }, 60_000);
  afterAll(() => setup?.cleanup());

  test('all is well: every check passes, exit status 0, no secret printed', async () => {
    const run = await kediriId(['doctor'], env);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.map((line) => line.slice(0, 6) + line.slice(6).split(':')[0])).toEqual([
      'ok    configuration', 'ok    database', 'ok    migrations', 'ok    signing keys', ...(env.DATABASE_URL ? ['ok    prepared statements', 'ok    notifications', 'ok    clock'] : []), 'ok    email', 'Every check passed.',
    ]);
    expect(run.stdout).not.toContain('rahasia-basis-data');
    if (env.ENCRYPTION_KEY) expect(run.stdout).not.toContain(env.ENCRYPTION_KEY);
  });

  test('a wrong ENCRYPTION_KEY, an unreachable mail relay and a missing migration are each named, exit status 1', async () => {
    const run = await kediriId(['doctor'], { ...env, ENCRYPTION_KEY: newSecret(), SMTP_URL: 'smtp://pengirim:sandi-surat@127.0.0.1:1' });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL {2}signing keys: ENCRYPTION_KEY cannot decrypt 2 signing key\(s\) .*is it the key this database was made with\?$/m);
    expect(run.stdout).toMatch(/^FAIL {2}email: the mail relay 127\.0\.0\.1:1 does not accept us: .*ECONNREFUSED/m);
    expect(run.stdout).not.toContain('sandi-surat');
    expect(run.stdout).toMatch(/^2 check\(s\) failed\.$/m);

    await setup.withDatabase((db) => db.query("delete from schema_migrations where name = '013_client_changes.sql'"));
    try {
      const pending = await kediriId(['doctor'], env);
      expect(pending.code).toBe(1);
      expect(pending.stdout).toMatch(/^FAIL {2}migrations: not applied: 013_client_changes\.sql \(kediri-id migrate, or start the server\)$/m);
    } finally {
      await setup.withDatabase((db) => db.query("insert into schema_migrations (name) values ('013_client_changes.sql')"));
    }
  });

  test('a server started with another ENCRYPTION_KEY says so in one plain line and exits 1, without a stack trace', async () => {
    const run = await kediriId(['serve'], { ...env, ENCRYPTION_KEY: newSecret() });
    expect(run.code).toBe(1);
    // (Node 20 also gets oidc-provider's "Unsupported runtime" warning on loading.)
    const lines = run.stderr.trim().split('\n').filter((line) => !line.startsWith('oidc-provider WARNING: Unsupported runtime'));
    expect(lines).toEqual([
      'kediri-id: ENCRYPTION_KEY cannot decrypt the secrets this database holds: start with the ENCRYPTION_KEY (or DATA_DIR/secrets.json) ' +
        'the database was made with; `kediri-id doctor` checks it',
    ]);
    // The database is untouched: the right key still serves.
    await (await startServe(env)).stop();
  });

  test('a first start with another ENCRYPTION_KEY than the operator CLI used seals nothing with it', async () => {
    const fresh = await processEnvironment();
    try {
      const keyOfTheCli = newSecret();
      expect((await kediriId(['keys', 'rotate'], { ...fresh.env, ENCRYPTION_KEY: keyOfTheCli })).code).toBe(0);
      const run = await kediriId(['serve'], { ...fresh.env, ENCRYPTION_KEY: newSecret() });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('kediri-id: ENCRYPTION_KEY cannot decrypt the secrets this database holds');
      expect(await fresh.withDatabase(async (db) => (await db.query('select count(*)::int as n from instance_secrets')).rows[0])).toEqual({ n: 0 });
      await (await startServe({ ...fresh.env, ENCRYPTION_KEY: keyOfTheCli })).stop();
    } finally {
      await fresh.cleanup();
    }
  });

  test('a bad configuration is said in plain words, exit status 1', async () => {
    const run = await kediriId(['doctor'], { ...env, PORT: 'delapan-puluh' });
    expect(run).toMatchObject({ code: 1, stdout: expect.stringMatching(/^FAIL {2}configuration: PORT /) });
  });
});
