import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import {
  cachedPopulationVerifier,
  httpPopulationVerifier,
  type PopulationQuery,
} from '../../src/identity/population-verifier.js';
import { createSealer, newSecret } from '../../src/secrets.js';
import { loadConfig } from '../../src/config.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startPopulationService, type PopulationService } from '../support/population-service.js';

const CLIENT_ID = 'kediri-id';
const CLIENT_SECRET = 'population-test-secret';

const SITI: PopulationQuery = { nik: '3571014101900001', name: 'Siti Aminah', birthPlace: 'Kediri', birthdate: '1990-01-01' };
const BUDI: PopulationQuery = { nik: '3571010505850002', name: 'Budi Santoso', birthPlace: 'Blitar', birthdate: '1985-05-05' };
const NOT_REGISTERED: PopulationQuery = { nik: '3571012212000003', name: 'Tidak Ada', birthPlace: 'Kediri', birthdate: '2000-12-22' };

let testDb: TestDb;
let service: PopulationService;
const sealer = createSealer(newSecret());

beforeAll(async () => {
  testDb = await createTestDb();
  service = await startPopulationService({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    records: [
      { nik: SITI.nik, name: 'SITI AMINAH', birthPlace: 'KEDIRI', birthdate: SITI.birthdate },
      { nik: BUDI.nik, name: 'BUDI SANTOSO', birthPlace: 'BLITAR', birthdate: BUDI.birthdate },
    ],
  });
});
afterAll(async () => {
  await service?.close();
  await testDb?.drop();
});
beforeEach(() => {
  service.mode = 'normal';
});

const connector = (options: { clientSecret?: string; timeoutMs?: number; url?: string; onTrouble?: (r: string) => void } = {}) =>
  httpPopulationVerifier({
    url: options.url ?? service.url,
    clientId: CLIENT_ID,
    clientSecret: options.clientSecret ?? CLIENT_SECRET,
    timeoutMs: options.timeoutMs,
    onTrouble: options.onTrouble,
  });

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe(`population verifier (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  describe('HTTP connector', () => {
    test('a match when every field matches; the request follows the wire format', async () => {
      const before = service.requests;
      expect(await connector().verify({ ...SITI, name: '  siti aminah ', birthPlace: 'kediri ' })).toBe('match');
      expect(service.requests).toBe(before + 1);
      const last = service.last!;
      expect(last.method).toBe('POST');
      expect(last.headers['content-type']).toBe('application/json');
      expect(last.headers.authorization).toBe(`Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`);
      // Trimmed and uppercased as Dukcapil stores names; the date as DD-MM-YYYY.
      expect(JSON.parse(last.body)).toEqual({ NIK: SITI.nik, NAMA_LGKP: 'SITI AMINAH', TMPT_LHR: 'KEDIRI', TGL_LHR: '01-01-1990' });
      // The NIK travels in the body only, never in the URL.
      expect(last.url).toBe('/verifikasi');
    });

    test.each([
      ['name', { name: 'Siti Aminah Putri' }],
      ['birth place', { birthPlace: 'Nganjuk' }],
      ['birth date', { birthdate: '1990-01-02' }],
    ])('no match when the %s differs', async (_field, change) => {
      expect(await connector().verify({ ...SITI, ...change })).toBe('no_match');
    });

    test('not found for a NIK the register does not hold', async () => {
      expect(await connector().verify(NOT_REGISTERED)).toBe('not_found');
    });

    test('quota exhausted, answered in the body or with 429', async () => {
      const reasons: string[] = [];
      service.mode = 'quota';
      expect(await connector({ onTrouble: (r) => reasons.push(r) }).verify(SITI)).toBe('quota_exhausted');
      service.mode = 'quota-429';
      expect(await connector({ onTrouble: (r) => reasons.push(r) }).verify(SITI)).toBe('quota_exhausted');
      expect(reasons).toEqual(['quota answer', 'HTTP 429']);
    });

    test('unavailable on a 500, an answer that is not the wire format, and a connection refused', async () => {
      service.mode = 'error';
      expect(await connector().verify(SITI)).toBe('unavailable');
      service.mode = 'malformed';
      expect(await connector().verify(SITI)).toBe('unavailable');
      const reasons: string[] = [];
      const refused = connector({ url: `http://127.0.0.1:${await closedPort()}/verifikasi`, onTrouble: (r) => reasons.push(r) });
      expect(await refused.verify(SITI)).toBe('unavailable');
      expect(reasons).toEqual(['network error']);
    });

    test('unavailable when the service does not answer within the timeout', async () => {
      service.mode = 'hang';
      const reasons: string[] = [];
      const started = Date.now();
      expect(await connector({ timeoutMs: 300, onTrouble: (r) => reasons.push(r) }).verify(SITI)).toBe('unavailable');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(reasons).toEqual(['timeout']);
      // Headers in time but a body that never ends is no answer either.
      service.mode = 'stall';
      expect(await connector({ timeoutMs: 300 }).verify(SITI)).toBe('unavailable');
    });

    test.each([
      [{ NIK: 'Sesuai', NAMA_LGKP: 'Sesuai (100)', TMPT_LHR: 'SESUAI', TGL_LHR: 'Sesuai' }, 'match'],
      [{ NIK: 'Sesuai', NAMA_LGKP: 'Tidak Sesuai (62)', TMPT_LHR: 'Sesuai', TGL_LHR: 'Sesuai' }, 'no_match'],
      [{ NIK: 'Sesuai', NAMA_LGKP: 'Sesuai', TMPT_LHR: 'Sesuai' }, 'unavailable'],
      [{ NIK: 'Sesuai', NAMA_LGKP: 'Cocok', TMPT_LHR: 'Sesuai', TGL_LHR: 'Sesuai' }, 'unavailable'],
      [{ NIK: 'Sesuai', NAMA_LGKP: 'Tidak Sesuai', TMPT_LHR: 'Sesuai', TGL_LHR: 'Cocok' }, 'unavailable'],
      [{ RESPON: 'Data Tidak Ditemukan' }, 'not_found'],
      [{ RESPON: 'Kuota Akses Hari Ini Telah Habis' }, 'quota_exhausted'],
      [{ RESPON: 'Sedang Pemeliharaan' }, 'unavailable'],
    ])('the answer %j reads as %s', async (answer, expected) => {
      const verifier = httpPopulationVerifier({
        url: service.url,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        fetch: async () => new Response(JSON.stringify({ content: [answer] }), { status: 200 }),
      });
      expect(await verifier.verify(SITI)).toBe(expected);
    });

    test('wrong credentials give unavailable', async () => {
      // A 401 is our misconfiguration, not a fact about the citizen: answering no_match or
      // not_found would tell them their data is wrong. 'unavailable' sends them to try later or to
      // the MPP counter, and onTrouble reports the status so operators can fix the secret.
      const reasons: string[] = [];
      const before = service.requests;
      expect(await connector({ clientSecret: 'wrong', onTrouble: (r) => reasons.push(r) }).verify(SITI)).toBe('unavailable');
      expect(service.requests).toBe(before + 1);
      expect(reasons).toEqual(['HTTP 401']);
    });

    test('never throws for service trouble; a malformed query is refused without echoing it', async () => {
      const seen: string[] = [];
      const failing = httpPopulationVerifier({
        url: service.url,
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        fetch: async () => {
          throw new TypeError('fetch failed');
        },
        onTrouble: (r) => seen.push(r),
      });
      expect(await failing.verify(SITI)).toBe('unavailable');
      expect(seen.join(' ')).not.toContain(SITI.nik);
      const error = await connector().verify({ ...SITI, nik: '35710141019' }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toContain('35710141019');
      await expect(connector().verify({ ...SITI, birthdate: '01-01-1990' })).rejects.toThrow(/YYYY-MM-DD/);
    });
  });

  describe('cache of matches', () => {
    test('a matched NIK is not sent again, also by another instance on the same database', async () => {
      const cached = cachedPopulationVerifier(testDb.db, sealer, connector(), 'test-service');
      const before = service.requests;
      expect(await cached.verify(BUDI)).toBe('match');
      expect(service.requests).toBe(before + 1);
      expect(await cached.verify(BUDI)).toBe('match');
      // Case and spacing do not make it new data.
      expect(await cached.verify({ ...BUDI, name: ' budi   santoso ' })).toBe('match');
      const another = cachedPopulationVerifier(testDb.db, sealer, connector(), 'test-service');
      expect(await another.verify(BUDI)).toBe('match');
      // Even a service that is down or out of quota does not matter for a verified NIK.
      service.mode = 'error';
      expect(await cached.verify(BUDI)).toBe('match');
      expect(service.requests).toBe(before + 1);
    });

    test('a no-match, a not-found, quota and unavailability are asked again', async () => {
      const cached = cachedPopulationVerifier(testDb.db, sealer, connector(), 'test-service');
      const typo = { ...SITI, name: 'Siti Aminha' };
      let before = service.requests;
      expect(await cached.verify(typo)).toBe('no_match');
      expect(await cached.verify(typo)).toBe('no_match');
      expect(await cached.verify(NOT_REGISTERED)).toBe('not_found');
      expect(await cached.verify(NOT_REGISTERED)).toBe('not_found');
      expect(service.requests).toBe(before + 4);

      service.mode = 'quota';
      expect(await cached.verify(SITI)).toBe('quota_exhausted');
      service.mode = 'error';
      expect(await cached.verify(SITI)).toBe('unavailable');
      service.mode = 'normal';
      before = service.requests;
      expect(await cached.verify(SITI)).toBe('match');
      expect(await cached.verify(SITI)).toBe('match');
      expect(service.requests).toBe(before + 1);
      const rows = await testDb.db.query<{ count: number }>('select count(*)::int as count from population_checks');
      expect(rows.rows[0]!.count).toBe(2); // BUDI and SITI; nothing for the failures
    });

    test('a cached match does not vouch for other data given with the same NIK', async () => {
      const cached = cachedPopulationVerifier(testDb.db, sealer, connector(), 'test-service');
      expect(await cached.verify(BUDI)).toBe('match');
      const before = service.requests;
      expect(await cached.verify({ ...BUDI, birthdate: '1985-05-06' })).toBe('no_match');
      expect(service.requests).toBe(before + 1);
      // The verified data stays cached.
      expect(await cached.verify(BUDI)).toBe('match');
      expect(service.requests).toBe(before + 1);
    });

    test('the NIK is never stored in clear: only its keyed hash, the one citizens.nik_hash uses', async () => {
      const { rows } = await testDb.db.query<Record<string, unknown>>(
        "select nik_hash, query_hash, result, source, checked_at from population_checks order by checked_at",
      );
      expect(rows.length).toBeGreaterThan(0);
      const stored = JSON.stringify(rows);
      for (const person of [SITI, BUDI, NOT_REGISTERED]) {
        expect(stored).not.toContain(person.nik);
        expect(stored).not.toContain(person.nik.slice(0, 12));
        expect(stored).not.toContain(person.name.toUpperCase());
      }
      expect(rows.map((r) => r.nik_hash).sort()).toEqual([sealer.keyedHash('nik', BUDI.nik), sealer.keyedHash('nik', SITI.nik)].sort());
      expect(rows.every((r) => r.result === 'match' && r.source === 'test-service' && r.checked_at instanceof Date)).toBe(true);
      // The schema holds matches only.
      await expect(
        testDb.db.query("insert into population_checks (nik_hash, query_hash, result, source) values ('x', 'y', 'no_match', 't')"),
      ).rejects.toThrow();
    });
  });

  test('the configuration read from the environment makes a connector that talks to the service', async () => {
    const { populationVerifier } = loadConfig({
      POPULATION_VERIFIER_URL: service.url,
      POPULATION_VERIFIER_CLIENT_ID: CLIENT_ID,
      POPULATION_VERIFIER_CLIENT_SECRET: CLIENT_SECRET,
    });
    expect(await httpPopulationVerifier(populationVerifier!).verify(BUDI)).toBe('match');
  });
});
