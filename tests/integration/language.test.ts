/**
 * The page language (issue 20): the language link's choice (?lang=, remembered in a cookie) wins;
 * without one, the browser's Accept-Language, Bahasa Indonesia when in doubt; a relying party's
 * ui_locales applies when the person did not choose (a browser's header is no choice).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Agent } from '../support/agent.js';
import { createWebClient } from '../support/fixtures.js';
import { authorizationRequest, relyingParty } from '../support/rp.js';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const langOf = async (res: Response) => /<html lang="(\w+)">/.exec(await res.text())?.[1];

/** GETs url with this Accept-Language, following redirects on the server. */
async function open(agent: Agent, url: string, acceptLanguage: string): Promise<Response> {
  let res = await agent.request(url, { headers: { 'accept-language': acceptLanguage } });
  for (let hops = 0; hops < 5 && res.status >= 300 && res.status < 400; hops++) {
    await res.arrayBuffer();
    res = await agent.request(new URL(res.headers.get('location')!, server.url).toString(), { headers: { 'accept-language': acceptLanguage } });
  }
  return res;
}

describe('the page language', () => {
  test.each([
    ['en', 'en'],
    ['en-US,en;q=0.9', 'en'],
    ['id-ID,id;q=0.9,en;q=0.8', 'id'],
    ['en;q=0.1, id', 'id'],
    ['fr, en;q=0.5', 'en'],
    ['id;q=0.5, en;q=0.5', 'id'],
    ['fr, de', 'id'],
    [';;q=,,en;q=abc, \u00e9\u00e9', 'id'],
    ['', 'id'],
  ])('Accept-Language "%s" on a first visit: %s', async (header, expected) => {
    const res = await open(new Agent(server.url), '/daftar', header);
    expect(res.status).toBe(200);
    expect(res.headers.get('vary')).toMatch(/accept-language/i);
    expect(await langOf(res)).toBe(expected);
  });

  test('the language link wins over Accept-Language, and is remembered', async () => {
    const agent = new Agent(server.url);
    expect(await langOf(await open(agent, '/daftar?lang=id', 'en'))).toBe('id');
    const later = await open(agent, '/daftar', 'en');
    expect(await langOf(later)).toBe('id');
    expect(later.headers.get('vary') ?? '').not.toMatch(/accept-language/i);
  });

  test('a relying party\'s ui_locales applies over Accept-Language, but not over the person\'s choice', async () => {
    const { clientId, clientSecret } = await createWebClient(server.instance);
    const rp = await relyingParty(server.url, clientId, clientSecret);
    const request = await authorizationRequest(rp, { ui_locales: 'id' });
    const agent = new Agent(server.url);
    expect(await langOf(await open(agent, request.url, 'en'))).toBe('id');
    await (await agent.request('/?lang=en')).arrayBuffer();
    expect(await langOf(await open(agent, (await authorizationRequest(rp, { ui_locales: 'id' })).url, 'id'))).toBe('en');
  });
});
