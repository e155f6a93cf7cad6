import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SITI } from '../support/fixtures.js';
import { freePort, createClientByCli, createSitiByCli, kediriId, processEnvironment, startServe } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';

const onPostgres = process.env.DATABASE_URL ? test : test.skip;

/**
 * kediri-id backup and restore (the embedded database): a backup taken while the server runs,
 * restored into a fresh DATA_DIR; a server on it signs in an account with a client made before.
 * On the embedded database on every run, PostgreSQL runs included.
 */
describe('backup and restore of the embedded database', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;
  let spare: string;
  let client: { clientId: string; clientSecret: string };
  let backupFile: string;

  beforeAll(async () => {
    setup = await processEnvironment({}, { database: 'embedded' });
    spare = await mkdtemp(join(tmpdir(), 'kediri-restore-'));
    backupFile = join(spare, 'kediri-id.tar.gz');
    client = await createClientByCli(setup.env, ['--scope', 'openid profile']);
    await createSitiByCli(setup.env);
  }, 60_000);
  afterAll(async () => {
    await setup?.cleanup();
    await rm(spare, { recursive: true, force: true });
  });

  test('backup while the server runs: a new file readable by its owner only; never over an existing file', async () => {
    const served = await startServe(setup.env);
    try {
      const run = await kediriId(['backup', '--file', backupFile], setup.env);
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toMatchObject({ file: backupFile, bytes: expect.any(Number) });
      expect((await stat(backupFile)).mode & 0o777).toBe(0o600);
      const again = await kediriId(['backup', '--file', backupFile], setup.env);
      expect(again).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('exists: choose a new name') });
      expect((await kediriId(['backup', '--file', 'relative.tar.gz'], setup.env)).stderr).toContain('must be an absolute path');
    } finally {
      await served.stop();
    }
    // The backup holds no key.
    expect((await readFile(backupFile)).includes(Buffer.from(JSON.parse(await readFile(join(setup.env.DATA_DIR!, 'secrets.json'), 'utf8')).encryptionKey))).toBe(false);
  }, 60_000);

  test('restore into a fresh DATA_DIR: refused without the key, then a login with an account and a client from before', async () => {
    const dataDir = join(spare, 'data');
    const port = String(await freePort());
    const env = { ...setup.env, DATA_DIR: dataDir, PORT: port, ISSUER: `http://127.0.0.1:${port}` };

    const keyless = await kediriId(['restore', '--file', backupFile], env);
    expect(keyless).toMatchObject({ code: 2, stderr: expect.stringContaining('copy the secrets.json of the installation backed up') });

    await mkdir(dataDir, { recursive: true });
    await copyFile(join(setup.env.DATA_DIR!, 'secrets.json'), join(dataDir, 'secrets.json'));
    const restored = await kediriId(['restore', '--file', backupFile], env);
    expect(restored.stderr).toBe('');
    expect(JSON.parse(restored.stdout)).toEqual({ restored: backupFile, citizens: 1, clients: 1 });
    expect((await kediriId(['restore', '--file', backupFile], env)).stderr).toContain('holds a database: move it aside first');

    const served = await startServe(env);
    try {
      const rp = await relyingParty(env.ISSUER, client.clientId, client.clientSecret);
      const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
      expect(tokens.claims()!.sub).toBeTruthy();
    } finally {
      await served.stop();
    }
  }, 90_000);

  test('restore with the wrong key restores nothing', async () => {
    const dataDir = join(spare, 'wrong-key');
    const result = await kediriId(['restore', '--file', backupFile], { ...setup.env, DATA_DIR: dataDir, ENCRYPTION_KEY: 'A'.repeat(43) });
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('ENCRYPTION_KEY cannot decrypt') });
    await expect(stat(join(dataDir, 'pglite'))).rejects.toThrow();
  }, 60_000);
});

describe('backup and restore with PostgreSQL', () => {
  onPostgres('are refused with the way to do it instead', async () => {
    const setup = await processEnvironment();
    try {
      for (const command of ['backup', 'restore']) {
        const run = await kediriId([command, '--file', '/tmp/kediri.tar.gz'], setup.env);
        expect(run).toMatchObject({ code: 2, stderr: expect.stringContaining('use pg_dump and pg_restore (docs/operations.md)') });
      }
    } finally {
      await setup.cleanup();
    }
  });
});
