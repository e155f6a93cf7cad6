import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CALLBACK, SITI } from '../support/fixtures.js';
import { kediriId, processEnvironment, startServe } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';
import { loadConfig } from '../../src/config.js';
import { createSealer, resolveEncryptionKey } from '../../src/secrets.js';

/**
 * The operator's workflow with the real binary: register a client and a citizen with the CLI,
 * serve, log in through the client, restart, and find clients, citizens and keys still there.
 * Always on the embedded database, whose CLI is the intricate one: it opens the data directory
 * itself, or, while a server holds it, speaks to the server through its socket (passwords on
 * standard input included). On PostgreSQL the CLI simply connects; the other tests of tests/system
 * use it that way (createClientByCli, createSitiByCli).
 */
let setup: Awaited<ReturnType<typeof processEnvironment>>;
let env: Record<string, string>;

beforeAll(async () => {
  setup = await processEnvironment({}, { database: 'embedded' });
  env = setup.env;
});

afterAll(() => setup.cleanup());

const rowCounts = () =>
  setup.withDatabase(async (db) => {
    const { rows } = await db.query<{ clients: number; citizens: number }>(
      'select (select count(*)::int from clients) as clients, (select count(*)::int from citizens) as citizens',
    );
    return rows[0]!;
  });

async function logIn(issuer: string, clientId: string, clientSecret: string): Promise<string> {
  const rp = await relyingParty(issuer, clientId, clientSecret);
  const tokens = await signInAndExchange(rp, SITI.email, SITI.password, { scope: 'openid profile' });
  return tokens.claims()!.sub;
}

const kids = async (issuer: string) =>
  ((await (await fetch(`${issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();

const BAD_ARGUMENTS: Array<[string[], RegExp]> = [
  [['client', 'create', '--unit', 'bppkad', '--name', 'Layanan', '--redirect-uri', 'not a uri'], /--redirect-uri: not an absolute URL/],
  [['client', 'create', '--unit', 'bppkad', '--name', 'Layanan', '--redirect-uri', 'http://example.com/cb'], /--redirect-uri: must be https/],
  [['client', 'create', '--unit', 'bppkad', '--name', 'Layanan', '--redirect-uri', CALLBACK, '--auth-method', 'magic'], /--auth-method must be one of/],
  [['client', 'create', '--name', 'Layanan'], /--unit is required/],
  [['citizen', 'create', '--nik', '3571010101900000', '--name', 'A B', '--birthdate', '1990-01-01', '--email', 'a@example.id'], /--nik: .*0000/],
  [['citizen', 'create', '--nik', '9971010101900001', '--name', 'A B', '--birthdate', '1990-01-01', '--email', 'a@example.id'], /--nik: .*province/i],
  [['citizen', 'create', '--nik', SITI.nik, '--name', 'A B', '--birthdate', '1991-01-01', '--email', 'a@example.id'], /--nik: .*does not match/],
  [['nonsense'], /unknown command/],
  [['keys', 'rotate', 'now'], /unexpected argument: now/],
  [['keys', 'revoke'], /keys revoke takes one argument: the kid/],
  [['keys', 'revoke', 'no-such-kid', '--end-sessions'], /No signing key has that kid/],
  [['keys', 'revoke', 'a', '--all'], /Unknown option '--all'/],
];

async function expectRefused(args: string[], message: RegExp) {
  const run = await kediriId(args, env, 'a-long-enough-password');
  expect({ args, code: run.code }).toEqual({ args, code: 2 });
  expect(run.stderr.trim().split('\n')[0]).toMatch(message);
  expect(run.stdout).toBe('');
}

describe('operator CLI', () => {
  let client: { client_id: string; client_secret: string };

  test('without a running server the CLI opens the database itself: client create', async () => {
    await expectRefused(['client', 'create', '--unit', 'no-such-unit', '--name', 'Layanan', '--redirect-uri', CALLBACK], /--unit: .*no-such-unit/);
    const created = await kediriId(
      ['client', 'create', '--unit', 'samsat', '--name', 'Pajak Kendaraan', '--redirect-uri', CALLBACK, '--scope', 'openid profile email'],
      env,
    );
    expect(created.code).toBe(0);
    client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    expect(client.client_id).toMatch(/^samsat-/);
    expect(client.client_secret.length).toBeGreaterThanOrEqual(43);
  });

  test('with the server running: bad arguments exit 2 and write nothing, citizen create, login; a restart keeps it all', async () => {
    const server = await startServe(env);
    let sub: string;
    let keysBefore: string[];
    try {
      // With the embedded database the running server holds DATA_DIR: the CLI hands the command over.
      for (const [args, message] of BAD_ARGUMENTS) await expectRefused(args, message);
      const citizen = await kediriId(
        ['citizen', 'create', '--nik', SITI.nik, '--name', SITI.name, '--birthdate', SITI.birthdate, '--email', SITI.email],
        env,
        `${SITI.password}\n`,
      );
      expect(citizen.stderr).toBe('');
      expect(citizen.code).toBe(0);
      const { id } = JSON.parse(citizen.stdout) as { id: string };
      await expectRefused(
        ['citizen', 'create', '--nik', SITI.nik, '--name', SITI.name, '--birthdate', SITI.birthdate, '--email', 'other@example.id'],
        /--nik: This NIK is already registered/,
      );

      sub = await logIn(env.ISSUER!, client.client_id, client.client_secret);
      // Pairwise per unit: a function of the unit, the account and the instance key only.
      expect(sub).toBe(pairwiseSubject(createSealer(await resolveEncryptionKey(loadConfig(env))), 'samsat', id));
      keysBefore = await kids(env.ISSUER!);
    } finally {
      await server.stop();
    }

    const again = await startServe(env);
    try {
      expect(await kids(env.ISSUER!)).toEqual(keysBefore);
      expect(await logIn(env.ISSUER!, client.client_id, client.client_secret)).toBe(sub);
    } finally {
      await again.stop();
    }
    expect(await rowCounts()).toEqual({ clients: 1, citizens: 1 });
  }, 300_000);

  test('keys list, keys rotate and keys revoke: no private material; no second rotation while one is in progress; a revoked key leaves the JWKS at once', async () => {
    const server = await startServe(env);
    try {
      type Listed = Array<{ kid: string; alg: string; state: string }>;
      const listed = await kediriId(['keys', 'list'], env);
      expect(listed.code).toBe(0);
      expect((JSON.parse(listed.stdout) as Listed).map((key) => `${key.alg} ${key.state}`).sort()).toEqual(['ES256 current', 'RS256 current']);

      const rotated = await kediriId(['keys', 'rotate'], env);
      expect(rotated.code).toBe(0);
      const { published, retiring } = JSON.parse(rotated.stdout) as { published: string[]; retiring: string[] };
      await expectRefused(['keys', 'rotate'], /The previous rotation is still in progress/);

      const after = await kediriId(['keys', 'list'], env);
      const keys = JSON.parse(after.stdout) as Listed;
      for (const key of keys) expect(Object.keys(key).sort()).toEqual(['alg', 'kid', 'publishedAt', 'retireAt', 'revokedAt', 'signingFrom', 'state']);
      expect(after.stdout).not.toMatch(/"d"|private/);
      expect(keys.filter((key) => published.includes(key.kid)).map((key) => key.state)).toEqual(['next', 'next']);

      // The running server publishes the new keys beside the old ones within seconds.
      const deadline = Date.now() + 15_000;
      while ((await kids(env.ISSUER!)).length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
      expect(await kids(env.ISSUER!)).toEqual([...published, ...retiring].sort());

      // An emergency, through the running server's socket: the current RS256 key is out of its JWKS
      // when the command returns, and the RS256 key of the rotation signs in its place.
      const compromised = keys.find((key) => key.alg === 'RS256' && key.state === 'current')!.kid;
      const successor = keys.find((key) => key.alg === 'RS256' && key.state === 'next')!.kid;
      const revoked = await kediriId(['keys', 'revoke', compromised, '--end-sessions'], env);
      expect(revoked.code).toBe(0);
      expect(JSON.parse(revoked.stdout)).toMatchObject({ kid: compromised, alg: 'RS256', state: 'current', replacedBy: successor, endSessions: true });
      expect(await kids(env.ISSUER!)).toEqual([...published, ...retiring].filter((kid) => kid !== compromised).sort());
      await expectRefused(['keys', 'revoke', compromised], /That key has already been revoked/);
    } finally {
      await server.stop();
    }
  }, 120_000);

  test('catalogue import: every bad line reported with its number and nothing imported (exit 2); a good file imported', async () => {
    const header = 'unit,name,description_id,description_en,kind,client_id,acr';
    const entries = () => setup.withDatabase(async (db) => (await db.query<{ name: string }>('select name from catalogue_entries order by name')).rows.map((r) => r.name));
    const bad = join(env.DATA_DIR!, 'bad.csv');
    await writeFile(bad, [
      header,
      'bppkad,"Pajak Bumi dan Bangunan","Bayar PBB, cek tagihan","Pay property tax, check the bill",counter,,urn:kediri:acr:basic',
      'nowhere,Layanan,Keterangan,Description,counter,,urn:kediri:acr:basic',
      `samsat,Pajak Kendaraan,Bayar pajak,Pay the tax,online,${client.client_id},urn:kediri:acr:gold`,
      'dpupr,,Izin bangunan,Building permit,counter,,urn:kediri:acr:basic',
      'dpupr,PBG,Persetujuan bangunan gedung,Building approval,online,,urn:kediri:acr:verified',
      'dpupr,Terlalu,sedikit,kolom',
    ].join('\n'));
    const refused = await kediriId(['catalogue', 'import', bad], env);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.split('\n').slice(1, -1)).toEqual([
      'line 3: unit: unknown unit "nowhere"',
      'line 4: acr: must be one of urn:kediri:acr:basic, urn:kediri:acr:verified, urn:kediri:acr:verified-mfa, not "urn:kediri:acr:gold"',
      'line 5: name: missing',
      'line 6: client_id: an online entry needs an active client of its unit',
      'line 7: 4 columns, 7 expected (unit,name,description_id,description_en,kind,client_id,acr)',
    ]);
    expect(refused.stderr).toMatch(/^kediri-id: the catalogue was not imported, nothing was added \(5 problems\)/);
    expect(await entries()).toEqual([]);

    const good = join(env.DATA_DIR!, 'good.csv');
    await writeFile(good, [
      header,
      'bppkad,"Pajak Bumi dan Bangunan","Bayar PBB, cek tagihan","Pay property tax, check the bill",counter,,urn:kediri:acr:basic',
      `samsat,Pajak Kendaraan,Bayar pajak kendaraan,Pay the vehicle tax,online,${client.client_id},urn:kediri:acr:verified`,
    ].join('\r\n'));
    const imported = await kediriId(['catalogue', 'import', good], env);
    expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(imported.stdout)).toEqual({ imported: 2 });
    expect(await entries()).toEqual(['Pajak Bumi dan Bangunan', 'Pajak Kendaraan']);
    // The same file again: both names are listed already.
    expect((await kediriId(['catalogue', 'import', good], env)).stderr).toContain('line 2: name: the unit lists "Pajak Bumi dan Bangunan" already');
    expect((await kediriId(['catalogue', 'import', join(env.DATA_DIR!, 'none.csv')], env)).stderr).toMatch(/cannot read .*none\.csv: ENOENT/);
  });

  test('admin create reads the password from standard input', async () => {
    const args = ['admin', 'create', '--email', 'kepala@kedirikota.go.id', '--nik', '3571021203800005', '--name', 'Kepala Diskominfo', '--birthdate', '1980-03-12'];
    const created = await kediriId(args, env, 'rapat-pagi-di-balai-kota\n');
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout)).toMatchObject({ role: 'admin' });
  });
});
