/**
 * One login for every unit, in a real browser (Debian's Chromium): two copies of the integration
 * kit's example relying party (examples/relying-party), registered by two units and listening on
 * two ports. The citizen signs in at the first, opens the second and is signed in without a
 * password (consent only); the two see different pairwise subs. Signing out at the first delivers
 * back-channel logout to both, and both show "Signed out"; the second was down when the logout
 * happened and receives it once it is back.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createExampleApp } from '../../examples/relying-party/app.js';
import { describeWithBrowser, launchBrowser, newWatchedContext } from '../support/browser.js';
import { SITI, createCitizen, createWebClient } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pairwiseSubject } from '../../src/oidc/pairwise.js';

const JOURNEY_TIMEOUT = 120_000;

interface Service {
  origin: string;
  port: number;
  server: http.Server;
  start(): Promise<void>;
  stop(): Promise<void>;
}

describeWithBrowser('single sign-on and single logout across two units, with Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const services: Service[] = [];

  /**
   * An example relying party of `unit`, on a port of its own, that can be stopped and started
   * again. `host` names it: browsers keep cookies per host, not per port, so the two services go
   * by two names of this machine (127.0.0.1 and localhost), as two real services would.
   */
  async function exampleService(unit: string, name: string, host: string): Promise<Service> {
    const httpServer = http.createServer();
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const port = (httpServer.address() as AddressInfo).port;
    const origin = `http://${host}:${port}`;
    const client = await createWebClient(server.instance, {
      unit,
      name,
      redirectUris: [`${origin}/callback`],
      postLogoutRedirectUris: [`${origin}/signed-out`],
      backchannelLogoutUri: `${origin}/backchannel-logout`,
      scope: 'openid profile',
    });
    const app = await createExampleApp({
      issuer: server.url,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      redirectUri: `${origin}/callback`,
      postLogoutRedirectUri: `${origin}/signed-out`,
      scope: 'openid profile',
    });
    httpServer.on('request', app.callback());
    const service: Service = {
      origin,
      port,
      server: httpServer,
      start: () => new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve)),
      stop: () => {
        httpServer.closeAllConnections();
        return new Promise<void>((resolve) => httpServer.close(() => resolve()));
      },
    };
    services.push(service);
    return service;
  }

  beforeAll(async () => {
    // Kediri ID calls the services' back-channel logout URIs on loopback only where allowed.
    [server, browser] = await Promise.all([startTestServer({ OUTBOUND_ALLOW: '127.0.0.1,localhost' }), launchBrowser()]);
    await createCitizen(server.instance);
    ({ context } = await newWatchedContext(browser));
    page = await context.newPage();
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await Promise.all(services.map((s) => (s.server.listening ? s.stop() : undefined)));
    await server?.close();
  });

  const heading = () => page.getByRole('heading', { level: 1 }).textContent();
  const subOn = async () => JSON.parse((await page.locator('#claims').textContent())!).sub as string;

  test('log in once, get in everywhere; sign out once, signed out everywhere (also where the service was down)', async () => {
    const akta = await exampleService('dispendukcapil', 'Layanan Akta', '127.0.0.1');
    const pajak = await exampleService('bppkad', 'Pajak Daerah', 'localhost');
    const citizenId = (await server.instance.citizens.findByEmail(SITI.email))!.id;

    // The first service: the Kediri ID login page, consent, and back, signed in.
    await page.goto(`${akta.origin}/login`);
    await expect(heading()).resolves.toBe('Masuk ke Layanan Akta');
    await page.getByLabel('NIK, email atau nomor HP', { exact: true }).fill(SITI.nik);
    await page.getByLabel('Kata sandi', { exact: true }).fill(SITI.password);
    await page.getByRole('button', { name: 'Masuk', exact: true }).click();
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    await page.waitForURL((url) => url.origin === akta.origin && url.pathname === '/');
    await expect(heading()).resolves.toBe(`Signed in as ${SITI.name}`);
    const aktaSub = await subOn();

    // The second service, another unit: no password page, only its consent.
    await page.goto(`${pajak.origin}/login`);
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).waitFor();
    expect(await page.getByLabel('Kata sandi', { exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Berikan akses', exact: true }).click();
    await page.waitForURL((url) => url.origin === pajak.origin && url.pathname === '/');
    await expect(heading()).resolves.toBe(`Signed in as ${SITI.name}`);
    const pajakSub = await subOn();

    // Pairwise: each unit sees its own stable identifier of the citizen, neither the account id.
    expect(aktaSub).not.toBe(pajakSub);
    expect(aktaSub).toBe(pairwiseSubject(server.instance.sealer, 'dispendukcapil', citizenId));
    expect(pajakSub).toBe(pairwiseSubject(server.instance.sealer, 'bppkad', citizenId));

    // The second service goes down; the citizen signs out at the first.
    await pajak.stop();
    await page.goto(akta.origin);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('button', { name: 'Keluar', exact: true }).click();
    await page.waitForURL((url) => url.origin === akta.origin && url.pathname === '/signed-out');
    await page.goto(akta.origin);
    await expect(heading()).resolves.toBe('Signed out');

    // Back up a little later: the outbox's next attempt (driven here rather than waited for) reaches it.
    await pajak.start();
    const delivered = await server.instance.singleLogout.deliverDue(new Date(Date.now() + 60_000));
    expect(delivered).toBeGreaterThanOrEqual(1);
    await page.goto(pajak.origin);
    await expect(heading()).resolves.toBe('Signed out');
    const rows = await server.instance.db.query<{ client_id: string; delivered: boolean }>(
      'select client_id, delivered_at is not null as delivered from logout_outbox order by client_id',
    );
    expect(rows.rows.map((r) => r.delivered)).toEqual([true, true]);
  }, JOURNEY_TIMEOUT);
});
