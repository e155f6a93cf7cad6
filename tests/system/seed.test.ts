import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import pg from 'pg';
import { createClientByCli, kediriId, processEnvironment, startServe } from '../support/process.js';
import { relyingParty, signInAndExchange } from '../support/rp.js';
import { seededCitizen } from '../../src/identity/seed.js';

const PASSWORD = 'benih-warga-kota-kediri';
const onPostgres = process.env.DATABASE_URL ? test : test.skip;

describe('kediri-id dev seed', () => {
  let setup: Awaited<ReturnType<typeof processEnvironment>>;

  beforeAll(async () => {
    setup = await processEnvironment();
  });
  afterAll(() => setup?.cleanup());

  test('tops the seeded citizens up to N, and a seeded citizen signs in with the password given', async () => {
    const first = await kediriId(['dev', 'seed', '--citizens', '12000'], setup.env, PASSWORD);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout)).toMatchObject({ created: 12000, total: 12000 });
    const again = await kediriId(['dev', 'seed', '--citizens', '12500'], setup.env, PASSWORD);
    expect(JSON.parse(again.stdout)).toMatchObject({ created: 500, total: 12500 });
    const count = await setup.withDatabase(async (db) => (await db.query<{ n: number }>('select count(*)::int as n from citizens')).rows[0]!.n);
    expect(count).toBe(12500);

    const { clientId, clientSecret } = await createClientByCli(setup.env, ['--scope', 'openid profile']);
    const server = await startServe(setup.env);
    try {
      const rp = await relyingParty(setup.issuer, clientId, clientSecret);
      const seeded = seededCitizen(12345);
      const tokens = await signInAndExchange(rp, seeded.nik, PASSWORD, { scope: 'openid profile' });
      const claims = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
      expect(claims).toMatchObject({ name: seeded.name, birthdate: seeded.birthdate, gender: seeded.gender });
    } finally {
      await server.stop();
    }
  });

  test('bad arguments and an empty password exit 2 and write nothing', async () => {
    for (const [args, stdin, message] of [
      [['dev', 'seed'], PASSWORD, /--citizens is required/],
      [['dev', 'seed', '--citizens', '0'], PASSWORD, /--citizens must be at least 1/],
      [['dev', 'seed', '--citizens', 'many'], PASSWORD, /--citizens is required: a number/],
      [['dev', 'seed', '--citizens', '20000'], '', /password is read from standard input/],
    ] as Array<[string[], string, RegExp]>) {
      const run = await kediriId(args, setup.env, stdin);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr).toMatch(message);
    }
    const count = await setup.withDatabase(async (db) => (await db.query<{ n: number }>('select count(*)::int as n from citizens')).rows[0]!.n);
    expect(count).toBe(12500);
  });

  onPostgres('refused on a PostgreSQL database whose name is not for tests', async () => {
    const name = `kediri_citizens_${process.pid}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    try {
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = `/${name}`;
      const run = await kediriId(['dev', 'seed', '--citizens', '10'], { ...setup.env, DATABASE_URL: url.toString() }, PASSWORD);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(`refused on the PostgreSQL database "${name}"`);
      const other = new pg.Client({ connectionString: url.toString() });
      await other.connect();
      const { rows } = await other.query<{ n: number }>('select count(*)::int as n from citizens');
      await other.end();
      expect(rows[0]!.n).toBe(0);
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
