import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { DEVICE_CODE_GRANT } from '../../src/clients/clients.js';
import { KIOSK_TTL } from '../../src/oidc/provider.js';
import { Agent, csrfTokenOf } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The kiosk (RFC 8628, the device authorization grant) with openid-client as the kiosk and a
 * small browser as the citizen's phone: only kiosk clients may start it; the user-code page takes
 * the code with or without the dash and in lower case, says when it is wrong or expired, and is
 * throttled per address; Izinkan gives the kiosk tokens (no refresh token), Batal access_denied.
 */
const IP_LIMIT = 12;

let server: TestServer;
let kiosk: oidc.Configuration;
let kioskId: string;
let kioskSecret: string;
let ordinary: oidc.Configuration;

/** The provider's anti-forgery token in a device-flow form of ours. */
const xsrfOf = (html: string) => {
  const token = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('the page has no device-flow form');
  return token;
};

/** The kiosk starts: a user code and a device code; polled at once (the server sets no slow_down). */
async function start(scope = 'openid profile') {
  const started = await oidc.initiateDeviceAuthorization(kiosk, { scope });
  return { ...started, interval: 0.05 };
}

/** The phone types a code on the user-code page: the answer to that post. */
async function enterCode(phone: Agent, userCode: string) {
  const { res } = await phone.follow('/device');
  const html = await res!.text();
  expect(res!.status).toBe(200);
  return phone.post('/device', { xsrf: xsrfOf(html), user_code: userCode });
}

/** The code entered, the confirmation answered (Izinkan or Batal), and the sign-in if asked: the page the phone ends on. */
async function answer(phone: Agent, userCode: string, choice: 'confirm' | 'abort') {
  const confirmation = await enterCode(phone, userCode);
  const html = await confirmation.text();
  expect(html).toContain('Izinkan');
  const posted = await phone.post('/device', { xsrf: xsrfOf(html), user_code: /name="user_code" value="([^"]+)"/.exec(html)![1]!, [choice]: 'yes' });
  let location = posted.headers.get('location');
  if (!location) return { status: posted.status, html: await posted.text() };
  // Not signed in on the phone yet: the normal login, then back to the device flow.
  const { res, url } = await phone.follow(location);
  const login = await res!.text();
  expect(login).toContain('name="password"');
  const signedIn = await phone.post(`${url.replace(/\/$/, '')}/login`, { _csrf: csrfTokenOf(login), identifier: SITI.email, password: SITI.password });
  location = signedIn.headers.get('location')!;
  const done = await phone.follow(location);
  return { status: done.res!.status, html: await done.res!.text() };
}

/** The error the kiosk's poll ends with. */
async function pollError(started: oidc.DeviceAuthorizationResponse): Promise<unknown> {
  try {
    await oidc.pollDeviceAuthorizationGrant(kiosk, started);
  } catch (error) {
    return error;
  }
  throw new Error('the poll gave tokens');
}

beforeAll(async () => {
  server = await startTestServer({ IP_LIMIT_CODE: String(IP_LIMIT) });
  await createCitizen(server.instance);
  const kioskClient = await createWebClient(server.instance, { name: 'Kios Antrean Dispendukcapil' });
  kioskId = kioskClient.clientId;
  kioskSecret = kioskClient.clientSecret;
  await server.instance.clientRequests.setProfile(kioskId, { subjectType: 'public', highAssurance: false, ciba: false, kiosk: true }, 'test', '127.0.0.1');
  kiosk = await relyingParty(server.url, kioskId, kioskClient.clientSecret);
  const other = await createWebClient(server.instance, { name: 'Layanan Akta' });
  ordinary = await relyingParty(server.url, other.clientId, other.clientSecret);
});

afterAll(async () => {
  await server?.close();
});

// Each test starts with a fresh count of tried codes (all of them come from 127.0.0.1).
beforeEach(async () => {
  await server.instance.db.query("delete from throttle where key like 'ip:code:%'");
});

describe('who may use the device flow', () => {
  test('discovery names the device authorization endpoint and the grant', () => {
    const metadata = kiosk.serverMetadata();
    expect(metadata.device_authorization_endpoint).toBe(`${server.url}/device/auth`);
    expect(metadata.grant_types_supported).toContain(DEVICE_CODE_GRANT);
  });

  test('a client that is not a kiosk is refused with unauthorized_client', async () => {
    await expect(oidc.initiateDeviceAuthorization(ordinary, { scope: 'openid' })).rejects.toMatchObject({ error: 'unauthorized_client' });
  });

  test('a kiosk that is no longer marked so is refused too', async () => {
    const { clientRequests } = server.instance;
    await clientRequests.setProfile(kioskId, { subjectType: 'public', highAssurance: false, ciba: false, kiosk: false }, 'test', '127.0.0.1');
    try {
      await expect(oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid' })).rejects.toMatchObject({ error: 'unauthorized_client' });
    } finally {
      await clientRequests.setProfile(kioskId, { subjectType: 'public', highAssurance: false, ciba: false, kiosk: true }, 'test', '127.0.0.1');
    }
  });

  test('a kiosk with pairwise subjects needs private_key_jwt at a jwks_uri (oidc-provider’s rule for the device flow)', async () => {
    await expect(
      server.instance.clientRequests.setProfile(kioskId, { subjectType: 'pairwise', highAssurance: false, ciba: false, kiosk: true }, 'test', '127.0.0.1'),
    ).rejects.toMatchObject({ code: 'kiosk_pairwise_needs_jwks_uri', field: 'kiosk' });
  });

  test('an administrator cannot make a kiosk high assurance', async () => {
    await expect(
      server.instance.clientRequests.setProfile(kioskId, { subjectType: 'public', highAssurance: true, ciba: false, kiosk: true }, 'test', '127.0.0.1'),
    ).rejects.toMatchObject({ code: expect.stringMatching(/high_assurance|kiosk/) });
  });
});

describe('the user-code page', () => {
  test('is in Bahasa Indonesia, with a labelled field and the provider’s xsrf token, not ours', async () => {
    const { res } = await new Agent(server.url).follow('/device');
    const html = await res!.text();
    expect(res!.status).toBe(200);
    expect(html).toContain('<html lang="id">');
    expect(html).toContain('<label class="label" for="user_code">Kode dari layar kios</label>');
    expect(xsrfOf(html)).toMatch(/^[0-9a-f]{48}$/);
    expect(html).not.toContain('name="_csrf"');
  });

  test('the code is eight consonants shown as XXXX-XXXX; verification_uri_complete carries it', async () => {
    const started = await start();
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri).toBe(`${server.url}/device`);
    expect(started.verification_uri_complete).toBe(`${server.url}/device?user_code=${started.user_code}`);
  });

  test.each([
    ['as shown', (code: string) => code],
    ['without the dash', (code: string) => code.replace('-', '')],
    ['in lower case', (code: string) => code.toLowerCase()],
    ['in lower case with spaces', (code: string) => ` ${code.slice(0, 4).toLowerCase()} ${code.slice(5).toLowerCase()} `],
  ])('accepts the code %s: the confirmation names the kiosk and its unit', async (_how, typed) => {
    const started = await start();
    const res = await enterCode(new Agent(server.url), typed(started.user_code));
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Izinkan Kios Antrean Dispendukcapil masuk dengan akun Anda?');
    expect(html).toContain('Dispendukcapil');
    expect(html).toContain(`<strong>${started.user_code}</strong>`);
    expect(html).toContain('Nama lengkap, tanggal lahir, jenis kelamin');
  });

  test('a wrong code: 400 and a clear message, the code typed kept', async () => {
    const res = await enterCode(new Agent(server.url), 'BCDF-GHJK');
    const html = await res.text();
    expect(res.status).toBe(400);
    expect(html).toContain('Kode itu salah. Periksa kode di layar kios dan coba lagi.');
    expect(html).toContain('value="BCDF-GHJK"');
    expect(html).toContain('aria-invalid="true"');
  });

  test('no code: 400, asked for it', async () => {
    const res = await enterCode(new Agent(server.url), '');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Masukkan kode yang tampil di layar kios.');
  });

  test('a post without the page’s xsrf token is refused (400), never a 500', async () => {
    const phone = new Agent(server.url);
    await phone.follow('/device');
    const res = await phone.post('/device', { xsrf: 'palsu', user_code: 'BCDF-GHJK' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Masukkan lagi kode dari layar kios');
  });

  test('an expired code: the page says so, and the kiosk’s poll ends with expired_token', async () => {
    const started = await start();
    await server.instance.db.query(
      `update oidc_payloads set payload = jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint - 1))
       where model = 'DeviceCode' and user_code = $1`,
      [started.user_code.replace('-', '')],
    );
    const res = await enterCode(new Agent(server.url), started.user_code);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Kode itu sudah kedaluwarsa. Mulai lagi di kios untuk mendapatkan kode baru.');
    expect(await pollError(started)).toMatchObject({ error: 'expired_token' });
  });

  test(`tried codes are limited per address: past ${IP_LIMIT} in 15 minutes, 429 and a time to wait, even for a right code`, async () => {
    const phone = new Agent(server.url);
    for (let i = 0; i < IP_LIMIT; i++) expect((await enterCode(phone, 'BCDF-GHJK')).status).toBe(400);
    const started = await start();
    const refused = await enterCode(phone, started.user_code);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.text()).toContain('Terlalu banyak');
  });
});

describe('the citizen’s answer', () => {
  test('Izinkan, then the normal login on the phone: the kiosk gets short-lived tokens and no refresh token', async () => {
    // Asked for offline_access too: a kiosk may not have it, and the provider leaves it out.
    const started = await start('openid profile offline_access');
    const phone = new Agent(server.url);
    const done = await answer(phone, started.user_code, 'confirm');
    expect(done.status).toBe(200);
    expect(done.html).toContain('Kios sudah masuk');

    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk, started);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.expires_in).toBe(KIOSK_TTL.AccessToken);
    const claims = tokens.claims()!;
    expect(claims.exp - claims.iat).toBe(KIOSK_TTL.IdToken);
    expect(claims.amr).toEqual(['pwd']);
    const userinfo = await oidc.fetchUserInfo(kiosk, tokens.access_token, claims.sub);
    expect(userinfo.name).toBe(SITI.name);

    // The code works once; the approval is in the citizen's activity.
    expect(await pollError(started)).toMatchObject({ error: 'invalid_grant' });
    const audited = await server.instance.db.query<{ details: unknown }>("select details from audit_events where type = 'kiosk.approved' and client_id = $1", [kioskId]);
    expect(audited.rows).toEqual([{ details: { scope: 'openid profile' } }]);
  });

  test('already signed in on the phone (single sign-on): Izinkan is enough', async () => {
    const phone = new Agent(server.url);
    await answer(phone, (await start()).user_code, 'confirm');
    const started = await start();
    const done = await answer(phone, started.user_code, 'confirm');
    expect(done.html).toContain('Kios sudah masuk');
    expect((await oidc.pollDeviceAuthorizationGrant(kiosk, started)).access_token).toEqual(expect.any(String));
  });

  test('Batal: the kiosk gets access_denied and the phone says it was cancelled', async () => {
    const started = await start();
    const done = await answer(new Agent(server.url), started.user_code, 'abort');
    expect(done.status).toBe(200);
    expect(done.html).toContain('Dibatalkan: kios tidak masuk dengan akun Anda.');
    expect(await pollError(started)).toMatchObject({ error: 'access_denied' });
  });

  test('a code already answered cannot be used again', async () => {
    const started = await start();
    await answer(new Agent(server.url), started.user_code, 'abort');
    const res = await enterCode(new Agent(server.url), started.user_code);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Kode itu sudah dipakai.');
  });

  test('the kiosk polling before the answer hears authorization_pending', async () => {
    const started = await start();
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${kioskId}:${kioskSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: DEVICE_CODE_GRANT, device_code: started.device_code }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'authorization_pending' });
  });
});
