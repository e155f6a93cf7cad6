import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { lastEmailTo } from '../support/mail.js';
import { relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { InputError } from '../../src/errors.js';

/**
 * The MPP counter asks the citizen in front of it to confirm on their own phone: OpenID Connect
 * CIBA in poll mode, with openid-client as the counter's system and the citizen's /akun as the
 * authentication device.
 */
const BUDI = { nik: '3571020512880003', name: 'Budi Santoso', birthdate: '1988-12-05', email: 'budi@example.id', password: 'sepeda-biru-di-jalan-dhoho' };
/** Structurally valid, but nobody's. */
const UNKNOWN_NIK = '3571014101900099';

let server: TestServer;
let counter: oidc.Configuration;
let counterClientId: string;
let plain: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, BUDI);
  const enabled = await createWebClient(server.instance, { name: 'Loket Dispendukcapil', scope: 'openid profile' });
  counterClientId = enabled.clientId;
  // As the admin page sets it: a client with a secret needs public subject identifiers for CIBA.
  await server.instance.clientRequests.setProfile(enabled.clientId, { subjectType: 'public', highAssurance: false, ciba: true, kiosk: false }, 'test', '127.0.0.1');
  counter = await relyingParty(server.url, enabled.clientId, enabled.clientSecret);
  const other = await createWebClient(server.instance, { name: 'Layanan Akta', scope: 'openid profile' });
  plain = await relyingParty(server.url, other.clientId, other.clientSecret);
});
afterAll(() => server.close());

const start = (params: Record<string, string>, rp = counter) =>
  oidc.initiateBackchannelAuthentication(rp, { scope: 'openid profile', login_hint: SITI.nik, binding_message: 'LOKET 3 A-17', ...params });

/** The counter's poll, quickly (the server names no interval: openid-client would wait 5 s each time). */
const poll = (response: oidc.BackchannelAuthenticationResponse) =>
  oidc.pollBackchannelAuthenticationGrant(counter, { ...response, interval: 0.2 }, undefined, { signal: AbortSignal.timeout(20_000) });

/** What the counter's system gets back as an OAuth error. */
/** As if the request's minutes had passed. */
const expireNow = (db: TestServer['instance']['db'], id: string) =>
  db.query(
    `update oidc_payloads set payload = jsonb_set(payload, '{exp}', to_jsonb(floor(extract(epoch from now()))::int - 1))
     where model = 'BackchannelAuthenticationRequest' and id = $1`,
    [id],
  );

async function oauthError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? String(error);
  }
  throw new Error('expected an OAuth error');
}

/** Signs in to /akun through Kediri ID; returns the browser and the page. */
async function accountPage(who: { email: string; password: string }, agent = new Agent(server.url)) {
  const first = await agent.request('/akun');
  if (first.status === 200) return { agent, html: await first.text() };
  const landed = await signIn(agent, first.headers.get('location')!, who.email, who.password);
  const { res } = await agent.follow(landed);
  return { agent, html: await res!.text() };
}

const answer = (agent: Agent, html: string, request: string, decision: 'setujui' | 'tolak') =>
  agent.post('/akun/konfirmasi', { _csrf: csrfTokenOf(html), request, answer: decision });

describe('CIBA for the MPP counter', () => {
  test('discovery names the backchannel authentication endpoint, poll mode only', async () => {
    const metadata = counter.serverMetadata();
    expect(metadata.backchannel_authentication_endpoint).toBe(`${server.url}/backchannel`);
    expect(metadata.backchannel_token_delivery_modes_supported).toEqual(['poll']);
    expect(metadata.grant_types_supported).toContain('urn:openid:params:grant-type:ciba');
  });

  test('a client an administrator did not enable gets unauthorized_client', async () => {
    expect(await oauthError(start({}, plain))).toBe('unauthorized_client');
  });

  test('CIBA is for clients that authenticate; a pairwise one with a secret cannot be enabled', async () => {
    const { clientId } = await createWebClient(server.instance, { name: 'Loket Pairwise' });
    const attempt = server.instance.clientRequests.setProfile(clientId, { subjectType: 'pairwise', highAssurance: false, ciba: true, kiosk: false }, 'test', '127.0.0.1');
    await expect(attempt).rejects.toThrow(InputError);
    await expect(attempt).rejects.toMatchObject({ code: 'ciba_needs_client_authentication', field: 'ciba' });
  });

  test('a login_hint that is not a NIK is invalid_request; an unknown NIK unknown_user_id', async () => {
    expect(await oauthError(start({ login_hint: '1234' }))).toBe('invalid_request');
    expect(await oauthError(start({ login_hint: '3571014101900000' }))).toBe('invalid_request');
    expect(await oauthError(start({ login_hint: UNKNOWN_NIK }))).toBe('unknown_user_id');
  });

  test('the binding message is required, short and plain', async () => {
    const without = oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: SITI.nik });
    expect(await oauthError(without)).toBe('invalid_binding_message');
    expect(await oauthError(start({ binding_message: 'x'.repeat(25) }))).toBe('invalid_binding_message');
    expect(await oauthError(start({ binding_message: '<b>hi</b>' }))).toBe('invalid_binding_message');
  });

  test('approved on the citizen\'s /akun, the counter\'s poll gets tokens for that citizen; the NIK is not stored in clear', async () => {
    const response = await start({});
    expect(response.expires_in).toBeLessThanOrEqual(300);
    expect(response.expires_in).toBeGreaterThan(200);
    const { rows } = await server.instance.db.query<{ payload: string }>(
      "select payload::text from oidc_payloads where model = 'BackchannelAuthenticationRequest' and id = $1",
      [response.auth_req_id],
    );
    expect(rows[0]!.payload).not.toContain(SITI.nik);

    // Announced: Siti has an email, so by email.
    const email = await lastEmailTo(server.instance.db, SITI.email);
    expect(email.subject).toContain('Permintaan konfirmasi dari loket');

    const { agent, html } = await accountPage(SITI);
    expect(html).toContain('Permintaan konfirmasi dari loket');
    expect(html).toContain('Loket Dispendukcapil');
    expect(html).toContain('LOKET 3 A-17');
    expect(html).toContain(`value="${response.auth_req_id}"`);

    const polled = poll(response);
    const approved = await answer(agent, html, response.auth_req_id, 'setujui');
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe('/akun?disetujui=1');

    const tokens = await polled;
    expect(tokens.access_token).toBeTruthy();
    const claims = tokens.claims()!;
    const siti = await server.instance.citizens.findByEmail(SITI.email);
    expect(claims.sub).toBe(siti!.id);
    expect(claims.acr).toBe('urn:kediri:acr:basic');
    const userinfo = await oidc.fetchUserInfo(counter, tokens.access_token, claims.sub);
    expect(userinfo.name).toBe(SITI.name);

    // Answered: no longer listed, and not answerable again.
    const after = await accountPage(SITI, agent);
    expect(after.html).not.toContain(`value="${response.auth_req_id}"`);
    expect((await answer(agent, after.html, response.auth_req_id, 'tolak')).status).toBe(400);

    const { rows: audit } = await server.instance.db.query<{ type: string }>(
      "select type from audit_events where client_id = $1 and type like 'ciba.%' order by at",
      [counterClientId],
    );
    expect(audit.map((a) => a.type)).toEqual(expect.arrayContaining(['ciba.requested', 'ciba.approved']));
  });

  test('denied, the counter gets access_denied', async () => {
    const response = await start({ binding_message: 'LOKET 5' });
    const { agent, html } = await accountPage(SITI);
    const polled = oauthError(poll(response));
    expect((await answer(agent, html, response.auth_req_id, 'tolak')).status).toBe(303);
    expect(await polled).toBe('access_denied');
  });

  test('another citizen cannot answer it; an unknown request is a clear 400', async () => {
    const response = await start({ binding_message: 'LOKET 6' });
    const budi = await accountPage(BUDI);
    expect(budi.html).not.toContain('LOKET 6');
    const foreign = await answer(budi.agent, budi.html, response.auth_req_id, 'setujui');
    expect(foreign.status).toBe(400);
    expect(await foreign.text()).toContain('tidak lagi menunggu jawaban');
    expect((await answer(budi.agent, budi.html, 'no-such-request', 'setujui')).status).toBe(400);
    expect((await budi.agent.post('/akun/konfirmasi', { _csrf: csrfTokenOf(budi.html), request: response.auth_req_id, answer: 'mungkin' })).status).toBe(400);

    // Still Siti's to answer.
    const siti = await accountPage(SITI);
    expect(siti.html).toContain('LOKET 6');
    expect((await answer(siti.agent, siti.html, response.auth_req_id, 'tolak')).status).toBe(303);
  });

  test('one request waits at a time; unanswered, it expires: expired_token', async () => {
    // A minute at least, whatever the counter asks for.
    const response = await start({ binding_message: 'LOKET 7', requested_expiry: '2' });
    expect(response.expires_in).toBe(60);
    // Another counter's request for her waits until this one is answered or gone.
    expect(await oauthError(start({ binding_message: 'LOKET 8' }))).toBe('invalid_request');
    await expireNow(server.instance.db, response.auth_req_id);
    expect(await oauthError(poll(response))).toBe('expired_token');
    const { html } = await accountPage(SITI);
    expect(html).not.toContain('LOKET 7');
  });
});
