import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createAudit } from '../../src/audit/audit.js';
import { createCitizenStore } from '../../src/identity/citizens.js';
import { createPasswords } from '../../src/identity/passwords.js';
import { createSealer, newSecret } from '../../src/secrets.js';
import { SITI } from '../support/fixtures.js';
import { createTestDb, type TestDb } from '../support/db.js';

let testDb: TestDb;
beforeAll(async () => {
  testDb = await createTestDb();
});
afterAll(() => testDb.drop());

const storedHash = async () =>
  (await testDb.db.query<{ password_hash: string }>('select password_hash from citizens where email = $1', [SITI.email])).rows[0]!.password_hash;

describe('password hashing', () => {
  test('argon2id with the configured parameters, rehashed at the next login when they rise', async () => {
    const sealer = createSealer(newSecret());
    const audit = createAudit(testDb.db);
    const today = createCitizenStore(testDb.db, sealer, createPasswords({ memoryCost: 19456, timeCost: 2, parallelism: 1 }, 2), audit);
    await today.create(SITI, { actor: 'test', emailVerified: true });
    const params = async () => (await storedHash()).split('$')[3]!.split(',').sort();
    expect(await storedHash()).toMatch(/^\$argon2id\$/);
    expect(await params()).toEqual(['m=19456', 'p=1', 't=2']);
    expect(await storedHash()).not.toContain(SITI.password);

    const raised = createCitizenStore(testDb.db, sealer, createPasswords({ memoryCost: 19456, timeCost: 3, parallelism: 1 }, 2), audit);
    expect(await raised.authenticate(SITI.email, 'wrong-password-entirely')).toBeUndefined();
    expect(await params()).toContain('t=2');
    expect((await raised.authenticate(SITI.email, SITI.password))?.email).toBe(SITI.email);
    expect(await params()).toEqual(['m=19456', 'p=1', 't=3']);
    expect((await raised.authenticate(SITI.nik, SITI.password))?.email).toBe(SITI.email);
  });
});
