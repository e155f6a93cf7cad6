import { describe, expect, test } from '@jest/globals';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from '../../src/config.js';
import { newSecret } from '../../src/secrets.js';
import { upstreamSettings } from '../../src/federation/upstreams.js';

/** The least that turns an upstream on. */
const UPSTREAM = { UPSTREAM_ISSUER: 'https://inapas.example.go.id', UPSTREAM_CLIENT_ID: 'kediri-id' };
/** Every setting production requires. */
const PRODUCTION = {
  NODE_ENV: 'production', DATABASE_URL: 'postgres://db/kediri', ENCRYPTION_KEY: newSecret(), ISSUER: 'https://id.example', TRUST_PROXY: 'true', SMTP_URL: 'smtp://m',
  MESSAGE_GATEWAY: 'sms', SMS_GATEWAY_URL: 'https://sms.kedirikota.go.id/kirim', SMS_GATEWAY_TOKEN: 'sms-token',
};

/** A message gateway, which production requires. */
const SMS = { MESSAGE_GATEWAY: 'sms', SMS_GATEWAY_URL: 'https://sms.kedirikota.go.id/kirim', SMS_GATEWAY_TOKEN: 'sms-token' };

describe('configuration from the environment', () => {
  test('defaults: port 3000, issuer on localhost, embedded database in ./data, OWASP argon2id minimum', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      dataDir: './data',
      production: false,
      devMail: true,
      argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
      keyPromotionSeconds: 86400,
      workers: 1,
      databasePoolSize: 10,
      outboundAllow: { hosts: [], networks: [] },
      messageGateways: {},
      upstream: undefined,
      upstreamTimeoutSeconds: 10,
    });
  });

  test('UPSTREAM_*: the first upstream with the defaults of INApas: private_key_jwt without a secret and client_secret_basic with one', () => {
    const inapas = loadConfig(UPSTREAM).upstream;
    expect(inapas).toEqual({
      slug: 'inapas',
      label: 'INApas',
      issuer: 'https://inapas.example.go.id',
      clientId: 'kediri-id',
      authMethod: 'private_key_jwt',
      clientSecret: '',
      scopes: 'openid profile email phone nik',
      nikClaim: 'nik',
      claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' },
      verifiedAcr: '',
      mfaAcr: '',
      enabled: true,
    });
    // The store takes the environment's settings as they are (config.ts and the store share the rules).
    expect(upstreamSettings.safeParse(inapas).success).toBe(true);
    expect(loadConfig({ ...UPSTREAM, UPSTREAM_CLIENT_SECRET: 'rahasia' }).upstream).toMatchObject({ authMethod: 'client_secret_basic', clientSecret: 'rahasia' });
    const ikd = loadConfig({
      ...UPSTREAM,
      UPSTREAM_SLUG: 'ikd',
      UPSTREAM_LABEL: ' IKD ',
      UPSTREAM_CLIENT_SECRET: 'rahasia',
      UPSTREAM_AUTH_METHOD: 'client_secret_post',
      UPSTREAM_SCOPES: ' openid   profile nik ',
      UPSTREAM_NIK_CLAIM: 'nik_ktp',
      UPSTREAM_CLAIMS: 'name=nama_lengkap, birthdate = tanggal_lahir,phone=no_hp',
      UPSTREAM_VERIFIED_ACR: 'urn:ikd:loa:2, urn:ikd:loa:3',
      UPSTREAM_MFA_ACR: 'urn:ikd:loa:3',
      UPSTREAM_TIMEOUT_SECONDS: '30',
    });
    expect(ikd.upstream).toEqual({
      slug: 'ikd',
      label: 'IKD',
      issuer: 'https://inapas.example.go.id',
      clientId: 'kediri-id',
      authMethod: 'client_secret_post',
      clientSecret: 'rahasia',
      scopes: 'openid profile nik',
      nikClaim: 'nik_ktp',
      claimMap: { name: 'nama_lengkap', birthdate: 'tanggal_lahir', email: 'email', phone: 'no_hp' },
      verifiedAcr: 'urn:ikd:loa:2 urn:ikd:loa:3',
      mfaAcr: 'urn:ikd:loa:3',
      enabled: true,
    });
    expect(upstreamSettings.parse(ikd.upstream)).toMatchObject({ verifiedAcr: ['urn:ikd:loa:2', 'urn:ikd:loa:3'], mfaAcr: ['urn:ikd:loa:3'] });
    expect(ikd.upstreamTimeoutSeconds).toBe(30);
    // UPSTREAM_TIMEOUT_SECONDS is for every upstream, also those of the admin console.
    expect(loadConfig({ UPSTREAM_TIMEOUT_SECONDS: '5' })).toMatchObject({ upstream: undefined, upstreamTimeoutSeconds: 5 });
  });

  test('UPSTREAM_ISSUER: http only on this machine, and never in production', () => {
    expect(loadConfig({ ...UPSTREAM, UPSTREAM_ISSUER: 'http://127.0.0.1:9000/op' }).upstream?.issuer).toBe('http://127.0.0.1:9000/op');
    expect(loadConfig({ ...PRODUCTION, ...UPSTREAM }).upstream?.issuer).toBe('https://inapas.example.go.id');
    expect(() => loadConfig({ ...PRODUCTION, ...UPSTREAM, UPSTREAM_ISSUER: 'http://127.0.0.1:9000/op' })).toThrow('UPSTREAM_ISSUER must be an https:// URL');
  });

  test('MESSAGE_GATEWAY: whatsapp, sms or both, each with its settings', () => {
    const whatsapp = { WHATSAPP_PHONE_NUMBER_ID: '109876543210', WHATSAPP_ACCESS_TOKEN: 'EAAG-token' };
    const sms = { SMS_GATEWAY_URL: 'https://sms.kedirikota.go.id/kirim', SMS_GATEWAY_TOKEN: 'sms-token' };
    expect(loadConfig({ MESSAGE_GATEWAY: 'whatsapp', ...whatsapp }).messageGateways).toEqual({
      whatsapp: {
        apiUrl: 'https://graph.facebook.com/v21.0',
        phoneNumberId: '109876543210',
        accessToken: 'EAAG-token',
        codeTemplate: 'kediri_id_kode',
        noticeTemplate: 'kediri_id_pemberitahuan',
      },
    });
    expect(loadConfig({ MESSAGE_GATEWAY: ' SMS ', ...sms, ...whatsapp }).messageGateways).toEqual({
      sms: { url: 'https://sms.kedirikota.go.id/kirim', token: 'sms-token' },
    });
    const both = loadConfig({
      MESSAGE_GATEWAY: 'sms,whatsapp', ...sms, ...whatsapp,
      WHATSAPP_API_URL: 'https://graph.facebook.com/v22.0/', WHATSAPP_CODE_TEMPLATE: 'kode_v2', WHATSAPP_NOTICE_TEMPLATE: 'info_v2',
    }).messageGateways;
    expect(both.whatsapp).toMatchObject({ apiUrl: 'https://graph.facebook.com/v22.0', codeTemplate: 'kode_v2', noticeTemplate: 'info_v2' });
    expect(both.sms).toBeDefined();
  });

  test('OUTBOUND_ALLOW: host names, addresses and networks, comma-separated', () => {
    expect(loadConfig({ OUTBOUND_ALLOW: ' Perizinan.Kedirikota.go.id, 10.20.0.0/16,127.0.0.1, fd00::/8 ' }).outboundAllow).toEqual({
      hosts: ['perizinan.kedirikota.go.id'],
      networks: ['10.20.0.0/16', '127.0.0.1/32', 'fd00::/8'],
    });
  });

  test('RETENTION_*: sensible defaults; the device goes before the entry, and the notice needs days before the deletion', () => {
    expect(loadConfig({}).retention).toEqual({ unverifiedDays: 30, inactiveWarnDays: 730, inactiveGraceDays: 30, auditDeviceDays: 90, auditDays: 730 });
    expect(loadConfig({ RETENTION_INACTIVE_YEARS: '3', RETENTION_AUDIT_DAYS: '1825' }).retention).toMatchObject({ inactiveWarnDays: 1095, auditDays: 1825 });
    expect(() => loadConfig({ RETENTION_AUDIT_DEVICE_DAYS: '400', RETENTION_AUDIT_DAYS: '365' })).toThrow(/RETENTION_AUDIT_DEVICE_DAYS must not exceed RETENTION_AUDIT_DAYS/);
    expect(() => loadConfig({ RETENTION_UNVERIFIED_DAYS: '7' })).toThrow(/RETENTION_UNVERIFIED_DAYS/);
    expect(() => loadConfig({ RETENTION_INACTIVE_YEARS: '0' })).toThrow(/RETENTION_INACTIVE_YEARS/);
    expect(() => loadConfig({ RETENTION_AUDIT_DAYS: 'dua tahun' })).toThrow(/RETENTION_AUDIT_DAYS/);
  });

  test('WORKERS: a number, or auto for one per CPU', () => {
    expect(loadConfig({ WORKERS: '3', DATABASE_URL: 'postgres://db/kediri' }).workers).toBe(3);
    expect(loadConfig({ WORKERS: 'auto', DATABASE_URL: 'postgres://db/kediri' }).workers).toBe(availableParallelism());
  });

  test('behind a pooler: statements unprepared, and the listening connection elsewhere; by default both as DATABASE_URL says', () => {
    const direct = loadConfig({ DATABASE_URL: 'postgres://db/kediri' });
    expect([direct.databasePreparedStatements, direct.databaseListenUrl]).toEqual([true, 'postgres://db/kediri']);
    const pooled = loadConfig({ DATABASE_URL: 'postgres://pooler:6432/kediri', DATABASE_PREPARED_STATEMENTS: 'false', DATABASE_LISTEN_URL: 'postgres://db/kediri' });
    expect([pooled.databasePreparedStatements, pooled.databaseListenUrl]).toEqual([false, 'postgres://db/kediri']);
  });

  test('ISSUER follows PORT and loses a trailing slash', () => {
    expect(loadConfig({ PORT: '8080' }).issuer).toBe('http://localhost:8080');
    expect(loadConfig({ ISSUER: 'https://id.kedirikota.go.id/' }).issuer).toBe('https://id.kedirikota.go.id');
  });

  test.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ ISSUER: 'ftp://id.example' }, /ISSUER/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with postgres/],
    [{ ENCRYPTION_KEY: 'short' }, /ENCRYPTION_KEY must be 32 random bytes/],
    [{ COOKIE_KEYS: 'too-short' }, /COOKIE_KEYS/],
    [{ ARGON2_MEMORY_KIB: '1024' }, /ARGON2_MEMORY_KIB/],
    [{ KEY_PROMOTION_SECONDS: '0' }, /KEY_PROMOTION_SECONDS/],
    [{ WORKERS: '2' }, /WORKERS above 1 needs DATABASE_URL/],
    [{ WORKERS: 'many', DATABASE_URL: 'postgres://db/kediri' }, /WORKERS/],
    [{ DATABASE_POOL_SIZE: '1', DATABASE_URL: 'postgres://db/kediri' }, /DATABASE_POOL_SIZE/],
    [{ DATABASE_PREPARED_STATEMENTS: 'no', DATABASE_URL: 'postgres://db/kediri' }, /DATABASE_PREPARED_STATEMENTS/],
    [{ DATABASE_PREPARED_STATEMENTS: 'false' }, /DATABASE_LISTEN_URL and DATABASE_PREPARED_STATEMENTS need DATABASE_URL/],
    [{ DATABASE_LISTEN_URL: 'postgres://db/kediri' }, /DATABASE_LISTEN_URL and DATABASE_PREPARED_STATEMENTS need DATABASE_URL/],
    [{ DATABASE_URL: 'postgres://pooler/kediri', DATABASE_LISTEN_URL: 'mysql://db/kediri' }, /DATABASE_LISTEN_URL must start with postgres/],
    [{ DATABASE_URL: 'postgres://pooler/kediri', DATABASE_PREPARED_STATEMENTS: 'false' }, /DATABASE_PREPARED_STATEMENTS=false is for a pooler in transaction mode, where LISTEN does not work: set DATABASE_LISTEN_URL/],
    [{ OUTBOUND_ALLOW: '10.0.0.0/33' }, /OUTBOUND_ALLOW "10.0.0.0\/33" has a bad network prefix/],
    [{ OUTBOUND_ALLOW: 'http://intranet.example' }, /OUTBOUND_ALLOW "http:\/\/intranet.example" is neither/],
    [{ OUTBOUND_ALLOW: '*' }, /OUTBOUND_ALLOW/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/kediri', ISSUER: 'https://id.example' }, /ENCRYPTION_KEY is required/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/kediri', ENCRYPTION_KEY: newSecret() }, /ISSUER is required/],
    [{ NODE_ENV: 'production', ISSUER: 'http://id.example', TRUST_PROXY: 'true' }, /https/],
    [{ NODE_ENV: 'production', ISSUER: 'https://id.example', SMTP_URL: 'smtp://mail.example' }, /TRUST_PROXY/],
    [{ NODE_ENV: 'production', ISSUER: 'https://id.example', TRUST_PROXY: 'true' }, /SMTP_URL is required/],
    [{ NODE_ENV: 'production', ISSUER: 'https://id.example', TRUST_PROXY: 'true', SMTP_URL: 'smtp://m', ...SMS, DEV_MAIL: 'true' }, /DEV_MAIL/],
    [{ NODE_ENV: 'production', ISSUER: 'https://id.example', TRUST_PROXY: 'true', SMTP_URL: 'smtp://m' }, /MESSAGE_GATEWAY is required in production/],
    [{ MESSAGE_GATEWAY: 'telegram' }, /MESSAGE_GATEWAY "telegram" is not a gateway: use whatsapp, sms or both/],
    [{ MESSAGE_GATEWAY: 'whatsapp;sms' }, /MESSAGE_GATEWAY "whatsapp;sms" is not a gateway/],
    [{ MESSAGE_GATEWAY: ' , ' }, /MESSAGE_GATEWAY names no gateway/],
    [{ MESSAGE_GATEWAY: 'whatsapp', WHATSAPP_ACCESS_TOKEN: 't' }, /MESSAGE_GATEWAY names whatsapp: WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN are required/],
    [{ MESSAGE_GATEWAY: 'sms', SMS_GATEWAY_URL: 'https://sms.example' }, /MESSAGE_GATEWAY names sms: SMS_GATEWAY_URL and SMS_GATEWAY_TOKEN are required/],
    [{ ...SMS, SMS_GATEWAY_URL: 'ftp://sms.example' }, /SMS_GATEWAY_URL must be an http/],
    [{ ...SMS, SMS_GATEWAY_URL: 'https://kota:rahasia@sms.example/kirim' }, /SMS_GATEWAY_URL must not contain a user or password/],
    [{ ...SMS, SMS_GATEWAY_TOKEN: 'two words' }, /SMS_GATEWAY_TOKEN must be printable ASCII without spaces/],
    [{ WHATSAPP_PHONE_NUMBER_ID: '+62812' }, /WHATSAPP_PHONE_NUMBER_ID must be the digits/],
    [{ WHATSAPP_CODE_TEMPLATE: 'Kode Masuk' }, /WHATSAPP_CODE_TEMPLATE must be a WhatsApp template name/],
    [{ WHATSAPP_API_URL: 'graph.facebook.com' }, /WHATSAPP_API_URL must be an http/],
    [{ SMTP_URL: 'http://mail.example' }, /SMTP_URL must start with smtp/],
    [{ POPULATION_VERIFIER_URL: 'https://dukcapil.example/cek' }, /go together/],
    [{ POPULATION_VERIFIER_URL: 'ftp://x', POPULATION_VERIFIER_CLIENT_ID: 'a', POPULATION_VERIFIER_CLIENT_SECRET: 'b' }, /POPULATION_VERIFIER_URL/],
    [{ POPULATION_VERIFIER_URL: 'https://x', POPULATION_VERIFIER_CLIENT_ID: 'a:b', POPULATION_VERIFIER_CLIENT_SECRET: 'b' }, /must not contain/],
    [{ ...UPSTREAM, UPSTREAM_ISSUER: 'http://inapas.example.go.id' }, /UPSTREAM_ISSUER must be an https:\/\/ URL/],
    [{ ...UPSTREAM, UPSTREAM_ISSUER: 'inapas.example.go.id' }, /UPSTREAM_ISSUER must be an https:\/\/ URL/],
    [{ ...UPSTREAM, UPSTREAM_ISSUER: 'https://inapas.example.go.id/#x' }, /UPSTREAM_ISSUER must be an https:\/\/ URL without query, fragment or credentials/],
    [{ ...UPSTREAM, UPSTREAM_ISSUER: 'https://kota:rahasia@inapas.example.go.id' }, /UPSTREAM_ISSUER must be an https:\/\/ URL/],
    [{ UPSTREAM_ISSUER: 'https://inapas.example.go.id' }, /UPSTREAM_CLIENT_ID is required with UPSTREAM_ISSUER/],
    [{ UPSTREAM_CLIENT_ID: 'kediri-id' }, /UPSTREAM_CLIENT_ID is set but UPSTREAM_ISSUER is not/],
    [{ UPSTREAM_CLAIMS: 'name=nama' }, /UPSTREAM_CLAIMS is set but UPSTREAM_ISSUER is not/],
    [{ ...UPSTREAM, UPSTREAM_AUTH_METHOD: 'client_secret_basic' }, /UPSTREAM_CLIENT_SECRET is required with UPSTREAM_AUTH_METHOD=client_secret_basic/],
    [{ ...UPSTREAM, UPSTREAM_AUTH_METHOD: 'client_secret_post' }, /UPSTREAM_CLIENT_SECRET is required with UPSTREAM_AUTH_METHOD=client_secret_post/],
    [{ ...UPSTREAM, UPSTREAM_AUTH_METHOD: 'private_key_jwt', UPSTREAM_CLIENT_SECRET: 'rahasia' }, /UPSTREAM_CLIENT_SECRET is not used with UPSTREAM_AUTH_METHOD=private_key_jwt/],
    [{ ...UPSTREAM, UPSTREAM_AUTH_METHOD: 'password' }, /UPSTREAM_AUTH_METHOD/],
    [{ ...UPSTREAM, UPSTREAM_SLUG: 'INApas!' }, /UPSTREAM_SLUG must be 2 to 31 lower-case letters/],
    [{ ...UPSTREAM, UPSTREAM_LABEL: 'x' }, /UPSTREAM_LABEL/],
    [{ ...UPSTREAM, UPSTREAM_SCOPES: 'profile nik' }, /UPSTREAM_SCOPES must be space-separated scopes, openid among them/],
    [{ ...UPSTREAM, UPSTREAM_NIK_CLAIM: 'nik ktp' }, /UPSTREAM_NIK_CLAIM must be a claim name/],
    [{ ...UPSTREAM, UPSTREAM_CLAIMS: 'address=alamat' }, /UPSTREAM_CLAIMS "address=alamat" is not one of name=CLAIM, birthdate=CLAIM, email=CLAIM, phone=CLAIM/],
    [{ ...UPSTREAM, UPSTREAM_CLAIMS: 'name=nama=lengkap' }, /UPSTREAM_CLAIMS "name=nama=lengkap" is not one of/],
    [{ ...UPSTREAM, UPSTREAM_CLAIMS: 'name=nama lengkap' }, /UPSTREAM_CLAIMS "name=nama lengkap": a claim name is letters, digits/],
    [{ ...UPSTREAM, UPSTREAM_VERIFIED_ACR: Array.from({ length: 21 }, (_, i) => `acr${i}`).join(',') }, /UPSTREAM_VERIFIED_ACR must be at most 20 acr values/],
    [{ ...UPSTREAM, UPSTREAM_MFA_ACR: 'a\u0007b' }, /UPSTREAM_MFA_ACR must be at most 20 acr values/],
    [{ UPSTREAM_TIMEOUT_SECONDS: '0' }, /UPSTREAM_TIMEOUT_SECONDS/],
    [{ UPSTREAM_TIMEOUT_SECONDS: '61' }, /UPSTREAM_TIMEOUT_SECONDS/],
    [{ UPSTREAM_TIMEOUT_SECONDS: 'ten' }, /UPSTREAM_TIMEOUT_SECONDS/],
  ])('%j is refused with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  test('argon2id below the OWASP minimum only with NODE_ENV=test (cheap hashes for the tests); production and development refuse it', () => {
    const cheap = { ARGON2_MEMORY_KIB: '1024', ARGON2_TIME_COST: '1' };
    expect(loadConfig({ ...cheap, NODE_ENV: 'test' }).argon2).toEqual({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/kediri', ENCRYPTION_KEY: newSecret(), ISSUER: 'https://id.example', TRUST_PROXY: 'true', SMTP_URL: 'smtp://m', ...SMS };
    for (const base of [production, { NODE_ENV: 'development' }, {}]) {
      expect(() => loadConfig({ ...base, ARGON2_MEMORY_KIB: '19455' })).toThrow('ARGON2_MEMORY_KIB must be at least 19456');
      expect(() => loadConfig({ ...base, ARGON2_TIME_COST: '1' })).toThrow('ARGON2_TIME_COST must be at least 2');
    }
    expect(loadConfig(production).argon2).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
  });

  test('production with PostgreSQL and every secret given is accepted', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://db/kediri',
      ENCRYPTION_KEY: newSecret(),
      COOKIE_KEYS: `${newSecret()},${newSecret()}`,
      ISSUER: 'https://id.kedirikota.go.id',
      TRUST_PROXY: 'true',
      SMTP_URL: 'smtps://relay.kedirikota.go.id',
      ...SMS,
    });
    expect(config.production).toBe(true);
    expect(config.devMail).toBe(false);
    expect(config.cookieKeys).toHaveLength(2);
  });
});
