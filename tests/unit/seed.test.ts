import { describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { checkNik } from '../../src/identity/nik.js';
import { seedRefusal, seededCitizen } from '../../src/identity/seed.js';

describe('seeded citizens', () => {
  test('each has a valid NIK that matches its birth date and gender, and no two share one', () => {
    const niks = new Set<string>();
    // Across the first cycle of birth dates, into the next serial, and far out (a million and more).
    const numbers = [...Array.from({ length: 30_000 }, (_, i) => i), 999_999, 1_000_000, 9_999_999];
    for (const i of numbers) {
      const citizen = seededCitizen(i);
      const checked = checkNik(citizen.nik, citizen.birthdate);
      expect({ i, checked }).toEqual({ i, checked: { ok: true, gender: citizen.gender, birthdate: citizen.birthdate } });
      niks.add(citizen.nik);
    }
    expect(niks.size).toBe(numbers.length);
  });

  test('seeding is refused in production and on a PostgreSQL database not named for tests', () => {
    const refusal = (url?: string) => seedRefusal(loadConfig({ ...(url && { DATABASE_URL: url }) }));
    expect(refusal()).toBeUndefined();
    expect(refusal('postgres://db.internal/kediri_test_42')).toBeUndefined();
    expect(refusal('postgres://db.internal/kediri_bench')).toBeUndefined();
    expect(refusal('postgres://db.internal/kediri_id')).toMatch(/refused on the PostgreSQL database "kediri_id"/);
    expect(refusal('postgres://db.internal/postgres')).toMatch(/refused/);
    const production = {
      NODE_ENV: 'production', ISSUER: 'https://id.example', TRUST_PROXY: 'true', SMTP_URL: 'smtp://mail.example',
      MESSAGE_GATEWAY: 'sms', SMS_GATEWAY_URL: 'https://sms.example', SMS_GATEWAY_TOKEN: 'token',
    };
    expect(seedRefusal(loadConfig(production))).toMatch(/refused in production/);
  });
});
