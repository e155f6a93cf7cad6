import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { createExampleApp } from '../../examples/relying-party/app.js';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The integration kit's example relying party (examples/relying-party) against a real server:
 * the browser hops between two origins, so it has one Agent (cookie jar) per origin.
 */
let server: TestServer;
let example: http.Server;
let origin: string;
let clientId: string;

beforeAll(async () => {
  // Kediri ID refuses outgoing requests to loopback unless allowed (back-channel logout to the example).
  server = await startTestServer({ OUTBOUND_ALLOW: '127.0.0.1' });
  await createCitizen(server.instance);
  example = http.createServer();
  await new Promise<void>((resolve) => example.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(example.address() as AddressInfo).port}`;
  const client = await createWebClient(server.instance, {
    redirectUris: [`${origin}/callback`],
    postLogoutRedirectUris: [`${origin}/signed-out`],
    backchannelLogoutUri: `${origin}/backchannel-logout`,
    scope: 'openid offline_access profile email',
  });
  clientId = client.clientId;
  const app = await createExampleApp({
    issuer: server.url,
    clientId,
    clientSecret: client.clientSecret,
    redirectUri: `${origin}/callback`,
    postLogoutRedirectUri: `${origin}/signed-out`,
    scope: 'openid profile email offline_access',
  });
  example.on('request', app.callback());
});

afterAll(async () => {
  example?.closeAllConnections();
  await new Promise((resolve) => (example ? example.close(resolve) : resolve(undefined)));
  await server?.close();
});

/** A browser: signs in at the example through Kediri ID and lands on the example's home page. */
async function signedInBrowser() {
  const atExample = new Agent(origin);
  const atKediriId = new Agent(server.url);
  const toIssuer = await atExample.follow('/login');
  expect(toIssuer.url.startsWith(`${server.url}/auth?`)).toBe(true);
  const callback = await signIn(atKediriId, toIssuer.url, SITI.nik, SITI.password);
  expect(callback.startsWith(`${origin}/callback?`)).toBe(true);
  const home = await atExample.follow(callback);
  return { atExample, atKediriId, home: await home.res!.text() };
}

const homeOf = async (agent: Agent) => (await (await agent.follow('/')).res!).text();

/** The ID token claims as the example's home page shows them. */
function claimsOn(home: string): { sub: string; sid: string } {
  return JSON.parse(/<pre id="claims">([^<]+)</.exec(home)![1]!.replace(/&#34;/g, '"').replace(/&#38;/g, '&'));
}

/** A logout token as Kediri ID makes one, signed with the server's current RS256 key. */
async function logoutToken(claims: Record<string, unknown>, { typ = 'logout+jwt' } = {}) {
  const key = server.instance.signingKeys.published().find((k) => k.alg === 'RS256' && k.state === 'current')!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: server.url, aud: clientId, iat: now, exp: now + 120, jti: randomUUID(),
    events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ })
    .sign(key.privateKey);
}

const postLogoutToken = (token: string) =>
  fetch(`${origin}/backchannel-logout`, { method: 'POST', body: new URLSearchParams({ logout_token: token }) });

describe('the example relying party', () => {
  test('signs in, shows the ID token claims and userinfo, refreshes, and signs out at Kediri ID too', async () => {
    const { atExample, atKediriId, home } = await signedInBrowser();
    expect(home).toContain(`Signed in as ${SITI.name}`);
    expect(home).toContain('urn:kediri:acr:basic'); // acr in the ID token claims
    expect(home).toContain(SITI.email); // from userinfo
    expect(claimsOn(home).sid).toBeTruthy(); // the client has a back-channel logout URI
    const expiry = /id="expiry">([^<]+)</.exec(home)![1]!;

    await new Promise((resolve) => setTimeout(resolve, 1100));
    const refreshed = await atExample.post('/refresh', {});
    expect(refreshed.status).toBe(302);
    const after = await homeOf(atExample);
    expect(after).toContain('Refreshed: a new access token.');
    expect(/id="expiry">([^<]+)</.exec(after)![1]!).not.toBe(expiry);

    // Sign out: the example sends the browser to end_session with id_token_hint; the citizen
    // confirms there and comes back to the post-logout redirect URI.
    const logout = await atExample.post('/logout', {});
    const endSession = new URL(logout.headers.get('location')!);
    expect(endSession.origin + endSession.pathname).toBe(`${server.url}/session/end`);
    expect(endSession.searchParams.get('id_token_hint')).toBeTruthy();
    const confirm = await atKediriId.follow(endSession.href);
    const page = await confirm.res!.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)![1]!;
    const action = new URL(/action="([^"]+)"/.exec(page)![1]!, server.url).href;
    const done = await atKediriId.follow((await atKediriId.post(action, { xsrf, logout: 'yes' })).headers.get('location')!);
    expect(done.url).toBe(`${origin}/signed-out`);
    expect(await homeOf(atExample)).toContain('You are not signed in.');

    // The session at Kediri ID is over: signing in again asks for the password.
    const again = await atKediriId.follow((await atExample.follow('/login')).url);
    expect(await again.res!.text()).toContain('name="password"');
  });

  test('a verified back-channel logout token ends the local session; the page then says "Signed out"', async () => {
    const { atExample, home } = await signedInBrowser();
    const claims = claimsOn(home);
    const token = await logoutToken({ sub: claims.sub, sid: claims.sid });
    const res = await postLogoutToken(token);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await homeOf(atExample);
    expect(page).toContain('<h1>Signed out</h1>');
    expect(page).toContain('back-channel logout');
    // The same token again is a replay.
    expect((await postLogoutToken(token)).status).toBe(400);
  });

  test('signing out at Kediri ID itself reaches the example by back-channel logout', async () => {
    const { atExample, atKediriId } = await signedInBrowser();
    // The citizen ends the Kediri ID session elsewhere (here: end_session without a client).
    const confirm = await (await atKediriId.follow('/session/end')).res!.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm)![1]!;
    const action = new URL(/action="([^"]+)"/.exec(confirm)![1]!, server.url).href;
    expect((await atKediriId.post(action, { xsrf, logout: 'yes' })).status).toBe(303);
    const page = await homeOf(atExample);
    expect(page).toContain('<h1>Signed out</h1>');
    expect(page).toContain('back-channel logout');
  });

  test('logout tokens that fail a check are refused with 400 and end nothing', async () => {
    const { atExample, home } = await signedInBrowser();
    const { sub, sid } = claimsOn(home);
    const valid = await logoutToken({ sub, sid });
    const forged = valid.slice(0, -4) + (valid.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = [
      'not-a-jwt',
      forged,
      await logoutToken({ sub, sid, nonce: 'n' }),
      await logoutToken({ sub, sid, events: {} }),
      await logoutToken({ sub, sid }, { typ: 'JWT' }),
      await logoutToken({ sub, sid, aud: 'someone-else' }),
      await logoutToken({ sub, sid, iat: Math.floor(Date.now() / 1000) - 3600 }), // too old
      await logoutToken({ sub, sid, iss: 'http://evil.example' }),
      await logoutToken({ sub: undefined, sid: undefined }),
    ];
    for (const token of bad) {
      const res = await postLogoutToken(token);
      expect({ token: token.slice(0, 20), status: res.status }).toEqual({ token: token.slice(0, 20), status: 400 });
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
    const missing = await fetch(`${origin}/backchannel-logout`, { method: 'POST', body: new URLSearchParams({}) });
    expect(missing.status).toBe(400);
    expect(await homeOf(atExample)).toContain(`Signed in as ${SITI.name}`);
  });

  test('a refused consent comes back as access_denied on the example\'s page', async () => {
    const atExample = new Agent(origin);
    const atKediriId = new Agent(server.url);
    let { res, url } = await atKediriId.follow((await atExample.follow('/login')).url);
    let html = await res!.text();
    const login = await atKediriId.post(`${url}/login`, { _csrf: csrfTokenOf(html), identifier: SITI.nik, password: SITI.password });
    ({ res, url } = await atKediriId.follow(login.headers.get('location')!));
    html = await res!.text();
    const deny = /action="([^"]+\/abort)"/.exec(html)?.[1] ?? `${url}/abort`;
    const denied = await atKediriId.post(new URL(deny, server.url).href, { _csrf: csrfTokenOf(html) });
    const back = await atKediriId.follow(denied.headers.get('location')!);
    expect(back.url.startsWith(`${origin}/callback?error=access_denied`)).toBe(true);
    const page = await atExample.follow(back.url);
    expect(page.res!.status).toBe(400);
    expect(await page.res!.text()).toContain('access_denied');
  });
});
