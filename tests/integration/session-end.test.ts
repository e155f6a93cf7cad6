import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import { createRemoteJWKSet } from 'jose';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { CALLBACK, SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { logoutReceiver, verifyLogoutToken, type LogoutReceiver } from '../support/logout-receiver.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { sweepExpired } from '../../src/oidc/payloads.js';

/*
 * Every end of a session reaches the services: a session that expires, and a session replaced by
 * another account's login in the same browser, send a back-channel logout through the outbox as
 * the other ends do (logout.test.ts).
 */

/** A second citizen (a man born 2 Feb 1985 in Kota Kediri, Mojoroto). */
const BUDI = { nik: '3571010202850003', name: 'Budi Santoso', birthdate: '1985-02-02', email: 'budi@example.id', password: 'sepeda-ke-gumul-tiap-minggu' };

type Party = 'akta' | 'pajak' | 'izin';
let server: TestServer;
const parties: Record<Party, { rp: oidc.Configuration; clientId: string; receiver: LogoutReceiver }> = {} as never;
let jwks: ReturnType<typeof createRemoteJWKSet>;
let siti: string;
let budi: string;

beforeAll(async () => {
  server = await startTestServer({ OUTBOUND_ALLOW: '127.0.0.1' });
  siti = (await createCitizen(server.instance)).id;
  budi = (await createCitizen(server.instance, BUDI)).id;
  const units = { akta: 'dispendukcapil', pajak: 'bppkad', izin: 'dpmptsp' } as const;
  for (const [name, unit] of Object.entries(units) as Array<[Party, string]>) {
    const receiver = await logoutReceiver();
    const { clientId, clientSecret } = await createWebClient(server.instance, { name: `Layanan ${name}`, unit, backchannelLogoutUri: receiver.uri });
    parties[name] = { rp: await relyingParty(server.url, clientId, clientSecret), clientId, receiver };
  }
  jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
});

afterAll(async () => {
  await Promise.all(Object.values(parties).map((p) => p.receiver.close()));
  await server.close();
});

/** Signs in at a relying party in this browser; returns what its ID token told it (sub, sid). */
async function signInAt(agent: Agent, party: Party, who: { email: string; password: string } = SITI) {
  const { rp } = parties[party];
  const request = await authorizationRequest(rp);
  const tokens = await oidc.authorizationCodeGrant(rp, new URL(await signIn(agent, request.url, who.email, who.password)), request.checks);
  const claims = tokens.claims()!;
  return { sub: claims.sub, sid: claims.sid as string };
}

/** Whether this browser signs in at the party without a password (single sign-on on its session). */
async function signedIn(agent: Agent, party: Party): Promise<boolean> {
  const { res, url } = await agent.follow((await authorizationRequest(parties[party].rp)).url);
  if (url.startsWith(CALLBACK)) return new URL(url).searchParams.has('code');
  return !(await res!.text()).includes('name="password"');
}

/** The logout tokens a party received since `before`, verified, as {sub, sid}. */
async function received(party: Party, before: number) {
  const tokens = parties[party].receiver.tokens.slice(before);
  return Promise.all(
    tokens.map(async (token) => {
      const claims = await verifyLogoutToken(token, { issuer: server.url, clientId: parties[party].clientId, jwks });
      return { sub: claims.sub, sid: claims.sid };
    }),
  );
}

const counts = () => Object.fromEntries(Object.entries(parties).map(([name, p]) => [name, p.receiver.tokens.length])) as Record<Party, number>;
const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

async function outboxRows(sid: string) {
  const { rows } = await server.instance.db.query<{ client_id: string; account_id: string }>('select client_id, account_id from logout_outbox where sid = $1', [sid]);
  return rows;
}

/** Makes the session that gave `sid` to a party past its lifetime, as the clock would. */
async function expireSession(party: Party, sid: string): Promise<string> {
  const { rows } = await server.instance.db.query<{ id: string }>(
    "update oidc_payloads set expires_at = now() - interval '1 second' where model = 'Session' and payload->'authorizations'->$1->>'sid' = $2 returning id",
    [parties[party].clientId, sid],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.id;
}

async function audits(type: string, citizenId: string) {
  const { rows } = await server.instance.db.query<{ details: { clients?: string[] } }>('select details from audit_events where type = $1 and citizen_id = $2', [type, citizenId]);
  return rows;
}

describe('an expired session', () => {
  test('sends each of its services a valid back-channel logout with its sid and sub, once, when two sweeps race; a live session gets none', async () => {
    const expiring = new Agent(server.url);
    const akta = await signInAt(expiring, 'akta');
    const pajak = await signInAt(expiring, 'pajak');
    const liveAgent = new Agent(server.url);
    const live = await signInAt(liveAgent, 'akta');
    const sessionId = await expireSession('akta', akta.sid);
    const before = counts();
    const auditsBefore = (await audits('session.expired', siti)).length;

    // Two processes sweep at the same moment: each session is ended by one of them.
    const swept = await Promise.all([sweepExpired(server.instance.db, server.instance.audit), sweepExpired(server.instance.db, server.instance.audit)]);
    expect(swept.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(1);
    expect((await server.instance.db.query("select 1 from oidc_payloads where model = 'Session' and id = $1", [sessionId])).rowCount).toBe(0);
    expect(await outboxRows(akta.sid)).toEqual([{ client_id: parties.akta.clientId, account_id: siti }]);
    expect(await outboxRows(pajak.sid)).toEqual([{ client_id: parties.pajak.clientId, account_id: siti }]);
    expect(await outboxRows(live.sid)).toEqual([]);

    expect(await server.instance.singleLogout.deliverDue()).toBe(2);
    expect(await received('akta', before.akta)).toEqual([{ sub: akta.sub, sid: akta.sid }]);
    expect(await received('pajak', before.pajak)).toEqual([{ sub: pajak.sub, sid: pajak.sid }]);
    // Delivered once: later rounds and sweeps send nothing more.
    await sweepExpired(server.instance.db, server.instance.audit);
    expect(await server.instance.singleLogout.deliverDue(later(2 * 24 * 3600))).toBe(0);
    expect(counts()).toEqual({ ...before, akta: before.akta + 1, pajak: before.pajak + 1 });

    const entries = (await audits('session.expired', siti)).slice(auditsBefore);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.details.clients?.sort()).toEqual([parties.akta.clientId, parties.pajak.clientId].sort());
    // The live session still signs in without a password; the expired one asks for it.
    expect(await signedIn(liveAgent, 'akta')).toBe(true);
    expect(await signedIn(expiring, 'akta')).toBe(false);
  });

  test('a session that has not expired is left alone by the sweep', async () => {
    const agent = new Agent(server.url);
    const izin = await signInAt(agent, 'izin');
    const before = counts();
    await sweepExpired(server.instance.db, server.instance.audit);
    await server.instance.singleLogout.deliverDue(later(2 * 24 * 3600));
    expect(counts()).toEqual(before);
    expect(await outboxRows(izin.sid)).toEqual([]);
    // The session is still there: the next service signs in without a password.
    expect(await signedIn(agent, 'pajak')).toBe(true);
  });
});

describe('a session replaced by another account', () => {
  test("signing in as another account in the same browser sends the first account's services a back-channel logout, then finishes the new login", async () => {
    const agent = new Agent(server.url);
    const akta = await signInAt(agent, 'akta');
    const pajak = await signInAt(agent, 'pajak');
    const before = counts();
    const logoutsBefore = (await audits('logout', siti)).length;
    // One of the first account's services also asked for front-channel logout: its page comes between.
    const frontchannel = 'http://127.0.0.1:9/frontchannel-logout';
    await server.instance.db.query(
      "update clients set metadata = metadata || jsonb_build_object('frontchannel_logout_uri', $2::text) where client_id = $1",
      [parties.pajak.clientId, frontchannel],
    );
    let onward: string;
    const request = await authorizationRequest(parties.izin.rp, { prompt: 'login' });
    try {
      // The next person at this computer signs in at another service, asking for a fresh login.
      const { res: loginPage, url: loginUrl } = await agent.follow(request.url);
      const html = await loginPage!.text();
      expect(html).toContain('name="password"');
      const posted = await agent.post(`${loginUrl}/login`, { _csrf: csrfTokenOf(html), identifier: BUDI.email, password: BUDI.password });
      expect(posted.status).toBe(303);
      // The provider ends the first account's session first: a page that posts itself (as a browser's script does).
      const { res: ending } = await agent.follow(posted.headers.get('location')!);
      const form = await ending!.text();
      const action = /<form method="post" action="([^"]+)"/.exec(form)?.[1];
      expect(action).toBe(`${server.url}/session/end/confirm`);
      const fields = Object.fromEntries([...form.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      const ended = await agent.post(action!, fields);
      // The front-channel frames, then back to the sign-in that is waiting.
      expect(ended.status).toBe(200);
      const page = await ended.text();
      expect(page).toContain(`<iframe src="${frontchannel}"`);
      onward = /^3; url=(.+)$/.exec(ended.headers.get('refresh') ?? '')![1]!;
      expect(onward).toMatch(new RegExp(`^${server.url}/auth/`));
      expect(page).toContain(`href="${onward}"`);
    } finally {
      await server.instance.db.query("update clients set metadata = metadata - 'frontchannel_logout_uri' where client_id = $1", [parties.pajak.clientId]);
    }
    const callback = await signIn(agent, onward, BUDI.email, BUDI.password);
    const tokens = await oidc.authorizationCodeGrant(parties.izin.rp, new URL(callback), request.checks);
    expect(tokens.claims()!.sub).toBeTruthy();

    await server.instance.singleLogout.deliverDue(later(10));
    expect(await received('akta', before.akta)).toEqual([{ sub: akta.sub, sid: akta.sid }]);
    expect(await received('pajak', before.pajak)).toEqual([{ sub: pajak.sub, sid: pajak.sid }]);
    // The new account's session is not ended (the service where it signs in may hear of the first
    // account's, which had begun an authorization there: the provider gives it a sid at the start).
    expect((await received('izin', before.izin)).filter((t) => t.sub === tokens.claims()!.sub)).toEqual([]);
    expect(await outboxRows(akta.sid)).toEqual([{ client_id: parties.akta.clientId, account_id: siti }]);
    expect(await audits('logout', siti)).toHaveLength(logoutsBefore + 1);
    expect(await audits('login.succeeded', budi)).toHaveLength(1);
  });
});

describe('the sweep of expired sessions', () => {
  test('works in batches: more expired sessions than one batch all end, each with its logout queued and audited once', async () => {
    const many = 450;
    await server.instance.db.query(
      `insert into oidc_payloads (model, id, payload, expires_at)
       select 'Session', 'batch-' || g, jsonb_build_object('accountId', $2::text, 'authorizations', jsonb_build_object($3::text, jsonb_build_object('sid', 'batch-sid-' || g))),
         now() - interval '1 minute'
       from generate_series(1, $1::int) g`,
      [many, budi, parties.izin.clientId],
    );
    const auditsBefore = (await audits('session.expired', budi)).length;
    await Promise.all([sweepExpired(server.instance.db, server.instance.audit), sweepExpired(server.instance.db, server.instance.audit)]);
    expect((await server.instance.db.query("select 1 from oidc_payloads where id like 'batch-%'")).rowCount).toBe(0);
    const { rows } = await server.instance.db.query<{ n: number; sids: number }>(
      "select count(*)::int as n, count(distinct sid)::int as sids from logout_outbox where sid like 'batch-sid-%' and client_id = $1 and account_id = $2",
      [parties.izin.clientId, budi],
    );
    expect(rows[0]).toEqual({ n: many, sids: many });
    expect(await audits('session.expired', budi)).toHaveLength(auditsBefore + many);
  });
});
