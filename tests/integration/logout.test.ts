import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { AFTER_LOGOUT, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { logoutReceiver, verifyLogoutToken as verifyToken, type LogoutReceiver } from '../support/logout-receiver.js';

let server: TestServer;
const parties: Record<'akta' | 'pajak' | 'izin', { rp: oidc.Configuration; clientId: string; receiver: LogoutReceiver }> = {} as never;
let jwks: ReturnType<typeof createRemoteJWKSet>;

beforeAll(async () => {
  server = await startTestServer({ OUTBOUND_ALLOW: '127.0.0.1' });
  await createCitizen(server.instance);
  const units = { akta: 'dispendukcapil', pajak: 'bppkad', izin: 'dpmptsp' } as const;
  for (const [name, unit] of Object.entries(units) as Array<[keyof typeof units, string]>) {
    const r = await logoutReceiver();
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: `Layanan ${name}`, unit, backchannelLogoutUri: r.uri });
    parties[name] = { rp: await relyingParty(server.url, clientId, clientSecret), clientId, receiver: r };
  }
  jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
});

afterAll(async () => {
  await Promise.all(Object.values(parties).map((p) => p.receiver.close()));
  await server.close();
});

/** Signs in at a relying party in this browser; returns what its ID token told it (sub, sid) and the token. */
async function signInAt(agent: Agent, party: keyof typeof parties) {
  const { rp } = parties[party];
  const request = await authorizationRequest(rp);
  const callback = await signIn(agent, request.url, SITI.email, SITI.password);
  const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
  const claims = tokens.claims()!;
  return { sub: claims.sub, sid: claims.sid as string, idToken: tokens.id_token! };
}

/** RP-initiated logout at a relying party, confirmed ("Keluar"); returns the confirmation's response. */
async function logOutAt(agent: Agent, party: keyof typeof parties, idToken: string) {
  const endSession = oidc.buildEndSessionUrl(parties[party].rp, { id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT });
  const page = await (await agent.follow(endSession.toString())).res!.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
  const action = new URL(/action="([^"]+)"/.exec(page)![1]!, server.url).toString();
  return agent.post(action, { xsrf, logout: 'yes' });
}

/** Verifies a logout token as the relying party `party` must, and returns its claims. */
const verifyLogoutToken = (token: string, party: keyof typeof parties) =>
  verifyToken(token, { issuer: server.url, clientId: parties[party].clientId, jwks });

async function outboxRows(sid: string) {
  const { rows } = await server.instance.db.query<{ client_id: string; attempts: number; delivered_at: Date | null; failed_at: Date | null; last_error: string | null }>(
    'select client_id, attempts, delivered_at, failed_at, last_error from logout_outbox where sid = $1',
    [sid],
  );
  return rows;
}

/** The provider's first attempts are recorded just after the logout's response: wait for the record. */
async function recorded(sid: string) {
  for (let i = 0; i < 50; i++) {
    const rows = await outboxRows(sid);
    if (rows.length > 0) return rows[0]!;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no outbox row for ${sid}`);
}

const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

describe('single logout', () => {
  test('signing out at one relying party delivers a valid back-channel logout to both that the citizen used (SSO)', async () => {
    const agent = new Agent(server.url);
    const akta = await signInAt(agent, 'akta');
    // Single sign-on: the second service asks no password.
    const second = await agent.follow((await authorizationRequest(parties.pajak.rp)).url);
    expect(await second.res!.text()).not.toContain('name="password"');
    const pajak = await signInAt(agent, 'pajak');
    // Pairwise subjects per unit: each service knows the citizen by its own sub.
    expect(akta.sub).not.toBe(pajak.sub);
    const before = { akta: parties.akta.receiver.tokens.length, pajak: parties.pajak.receiver.tokens.length };

    const done = await logOutAt(agent, 'akta', akta.idToken);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(AFTER_LOGOUT);

    for (const [party, seen] of [['akta', akta], ['pajak', pajak]] as const) {
      const received = parties[party].receiver.tokens.slice(before[party]);
      expect(received).toHaveLength(1);
      const claims = await verifyLogoutToken(received[0]!, party);
      // Both "show signed out": each finds its own session by the sid and sub of its ID token.
      expect({ sub: claims.sub, sid: claims.sid }).toEqual({ sub: seen.sub, sid: seen.sid });
      expect(decodeProtectedHeader(received[0]!).alg).toBe(decodeProtectedHeader(seen.idToken).alg);
      expect(await recorded(seen.sid)).toMatchObject({ attempts: 1, delivered_at: expect.any(Date), failed_at: null });
    }
    // Delivered is final: no later round sends them again.
    await server.instance.singleLogout.deliverDue(later(2 * 24 * 3600));
    expect(parties.akta.receiver.tokens.length - before.akta).toBe(1);
    expect(parties.pajak.receiver.tokens.length - before.pajak).toBe(1);
  });

  test('a relying party that is down when the citizen signs out gets the logout when it is back', async () => {
    const agent = new Agent(server.url);
    const akta = await signInAt(agent, 'akta');
    const izin = await signInAt(agent, 'izin');
    const { receiver: down } = parties.izin;
    const before = down.tokens.length;
    down.planned.push(503, 503);

    expect((await logOutAt(agent, 'akta', akta.idToken)).status).toBe(303);
    expect(await recorded(izin.sid)).toMatchObject({ attempts: 1, delivered_at: null, failed_at: null, last_error: expect.stringContaining('503') });

    // Not yet due (5 s after the first attempt), then due and failing again, then delivered.
    expect(await server.instance.singleLogout.deliverDue()).toBe(0);
    expect(await server.instance.singleLogout.deliverDue(later(10))).toBe(1);
    expect((await outboxRows(izin.sid))[0]).toMatchObject({ attempts: 2, delivered_at: null });
    expect(await server.instance.singleLogout.deliverDue(later(20))).toBe(0);
    expect(await server.instance.singleLogout.deliverDue(later(60))).toBe(1);
    expect((await outboxRows(izin.sid))[0]).toMatchObject({ attempts: 3, delivered_at: expect.any(Date), last_error: null });

    const received = down.tokens.slice(before);
    expect(received).toHaveLength(3);
    const claims = await verifyLogoutToken(received[2]!, 'izin');
    expect({ sub: claims.sub, sid: claims.sid }).toEqual({ sub: izin.sub, sid: izin.sid });
    await server.instance.singleLogout.deliverDue(later(2 * 24 * 3600));
    expect(down.tokens.length - before).toBe(3);
  });

  test('"end all sessions" on the account page delivers to the services of every session', async () => {
    const agent = new Agent(server.url);
    const akta = await signInAt(agent, 'akta');
    const pajak = await signInAt(agent, 'pajak');
    const start = await agent.request('/akun');
    const { res } = await agent.follow(await signIn(agent, start.headers.get('location')!, SITI.email, SITI.password));
    const before = { akta: parties.akta.receiver.tokens.length, pajak: parties.pajak.receiver.tokens.length };

    expect((await agent.post('/akun/sesi/akhiri-semua', { _csrf: csrfTokenOf(await res!.text()) })).status).toBe(303);
    expect(await server.instance.singleLogout.deliverDue()).toBeGreaterThanOrEqual(2);

    for (const [party, seen] of [['akta', akta], ['pajak', pajak]] as const) {
      const received = parties[party].receiver.tokens.slice(before[party]);
      expect(received).toHaveLength(1);
      const claims = await verifyLogoutToken(received[0]!, party);
      expect({ sub: claims.sub, sid: claims.sid }).toEqual({ sub: seen.sub, sid: seen.sid });
      expect((await outboxRows(seen.sid))[0]).toMatchObject({ attempts: 1, delivered_at: expect.any(Date) });
    }
  });

  test('ending one session on the account page delivers to that session\'s services only', async () => {
    const akta = await signInAt(new Agent(server.url), 'akta');
    const pajak = await signInAt(new Agent(server.url), 'pajak');
    const { rows } = await server.instance.db.query<{ id: string }>(
      "select id from oidc_payloads where model = 'Session' and payload->'authorizations'->$1->>'sid' = $2",
      [parties.akta.clientId, akta.sid],
    );
    const agent = new Agent(server.url);
    const start = await agent.request('/akun');
    const { res } = await agent.follow(await signIn(agent, start.headers.get('location')!, SITI.email, SITI.password));
    const before = { akta: parties.akta.receiver.tokens.length, pajak: parties.pajak.receiver.tokens.length };

    expect((await agent.post('/akun/sesi/akhiri', { _csrf: csrfTokenOf(await res!.text()), session: rows[0]!.id })).status).toBe(303);
    await server.instance.singleLogout.deliverDue();

    const received = parties.akta.receiver.tokens.slice(before.akta);
    expect(received).toHaveLength(1);
    expect((await verifyLogoutToken(received[0]!, 'akta')).sid).toBe(akta.sid);
    expect(parties.pajak.receiver.tokens.length).toBe(before.pajak);
    expect(await outboxRows(pajak.sid)).toEqual([]);
  });

  test('a private address outside OUTBOUND_ALLOW is never contacted; the delivery is recorded as refused', async () => {
    const hidden = await logoutReceiver('::1');
    try {
      const { clientId, clientSecret } = await createWebClient(server.instance, { name: 'Layanan Internal', unit: 'dpupr', backchannelLogoutUri: hidden.uri });
      const rp = await relyingParty(server.url, clientId, clientSecret);
      const agent = new Agent(server.url);
      const request = await authorizationRequest(rp);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(await signIn(agent, request.url, SITI.email, SITI.password)), request.checks);
      const sid = tokens.claims()!.sid as string;

      // At RP-initiated logout, the provider's own attempt goes through the allowlist too.
      const endSession = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER_LOGOUT });
      const page = await (await agent.follow(endSession.toString())).res!.text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
      expect((await agent.post('/session/end/confirm', { xsrf, logout: 'yes' })).status).toBe(303);

      expect(await recorded(sid)).toMatchObject({ client_id: clientId, attempts: 1, delivered_at: null, failed_at: expect.any(Date), last_error: expect.stringMatching(/^refused: /) });
      await server.instance.singleLogout.deliverDue(later(2 * 24 * 3600));
      expect((await outboxRows(sid))[0]!.attempts).toBe(1);
      expect(hidden.connections()).toBe(0);
    } finally {
      await hidden.close();
    }
  });

  test('front-channel logout: a page with an iframe per service that registered it, and frame-src for exactly those', async () => {
    const frontchannel = 'http://127.0.0.1:9/frontchannel-logout';
    await server.instance.db.query(
      `update clients set metadata = metadata || jsonb_build_object('frontchannel_logout_uri', $2::text, 'frontchannel_logout_session_required', true)
       where client_id = $1`,
      [parties.pajak.clientId, frontchannel],
    );
    try {
      const agent = new Agent(server.url);
      const akta = await signInAt(agent, 'akta');
      const pajak = await signInAt(agent, 'pajak');
      const done = await logOutAt(agent, 'akta', akta.idToken);
      expect(done.status).toBe(200);
      const html = await done.text();
      const frame = new URL(/<iframe src="([^"]+)"/.exec(html)![1]!.replaceAll('&amp;', '&'));
      expect(`${frame.origin}${frame.pathname}`).toBe(frontchannel);
      expect(Object.fromEntries(frame.searchParams)).toEqual({ iss: server.url, sid: pajak.sid });
      expect(html.match(/<iframe/g)).toHaveLength(1);
      expect(done.headers.get('content-security-policy')).toMatch(/; frame-src http:\/\/127\.0\.0\.1:9$/);
      // Then on to the relying party's post-logout URI, by itself or with the link.
      expect(done.headers.get('refresh')).toBe(`3; url=${AFTER_LOGOUT}`);
      expect(html).toContain(`href="${AFTER_LOGOUT}"`);
    } finally {
      await server.instance.db.query("update clients set metadata = metadata - 'frontchannel_logout_uri' - 'frontchannel_logout_session_required' where client_id = $1", [parties.pajak.clientId]);
    }
  });
});
