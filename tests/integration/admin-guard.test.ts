/**
 * Every route of the admin console and of the developer portal refuses whoever lacks the role, and
 * answers staff without a second factor with the page that explains why and links to its setup.
 * The routes are read from the same routers the app mounts, so a route added without the guard
 * fails here, route by route.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen, enrolTotp, grantStaff, totpCode } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { adminRouter } from '../../src/web/admin/router.js';
import { developerRouter } from '../../src/web/developer/router.js';
import type { AppDeps } from '../../src/web/app.js';

const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };
/** Staff without a second factor: an administrator and a developer. */
const BARE = {
  admin: { nik: '3571035506850002', name: 'Dewi Admin', birthdate: '1985-06-15', email: 'dewi@kedirikota.go.id', password: 'konsol-admin-diskominfo' },
  developer: { nik: '3571022208850004', name: 'Eko Prasetyo', birthdate: '1985-08-22', email: 'eko@dpupr.example.id', password: 'tahu-takwa-dan-getuk-pisang' },
};
/** A developer who sets a second factor up while signed in. */
const LATE_DEV = { nik: '3571015503920004', name: 'Rina Pengembang', birthdate: '1992-03-15', email: 'rina@dinkes.example.id', password: 'kebun-teh-wilis-pagi' };

let server: TestServer;
let devTotp: string;
beforeAll(async () => {
  server = await startTestServer();
  for (const person of [SITI, DEV, BARE.admin, BARE.developer, LATE_DEV]) await createCitizen(server.instance, person);
  devTotp = (await grantStaff(server.instance, DEV.email, 'developer', 'bppkad')).totp;
  await server.instance.staff.grant(BARE.admin.email, 'admin', 'test');
  await server.instance.staff.grant(BARE.developer.email, 'developer', 'test', 'dpupr');
  await server.instance.staff.grant(LATE_DEV.email, 'developer', 'test', 'dpupr');
});

/** The browser's CSRF token, from its account page (the staff pages that refuse it have no form). */
const csrfOf = async (agent: Agent) => csrfTokenOf(await (await agent.request('/akun')).text());
afterAll(() => server.close());

/** The method and path of every route of a router, with its parameters filled in. */
function routesOf(build: (deps: AppDeps, guard: Middleware, recentLogin: Middleware) => Router): { method: string; path: string }[] {
  const router = build(server.instance as unknown as AppDeps, (_ctx, next) => next(), (_ctx, next) => next());
  return router.stack
    .filter((layer) => layer.methods.length > 0)
    .flatMap((layer) =>
      layer.methods
        .filter((m) => m === 'GET' || m === 'POST')
        .map((method) => ({ method, path: String(layer.path).replace(/:\w+/g, '00000000-0000-4000-8000-000000000000') })),
    );
}

/** A browser signed in (a fresh login, with the TOTP app whose secret is `totp` if any) as this person. */
async function signedIn(who: { email: string; password: string }, area: string, totp?: string) {
  const agent = new Agent(server.url);
  const start = await agent.request(area);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password, { totp });
  const { res } = await agent.follow(landed);
  return { agent, res: res!, html: await res!.text() };
}

const areas = [
  { name: 'the admin console', build: adminRouter, role: 'admin' },
  { name: 'the developer portal', build: developerRouter, role: 'developer' },
] as const;

describe.each(areas)('$name', ({ build, role }) => {
  test('has routes (the list below is not empty)', () => {
    expect(routesOf(build).length).toBeGreaterThan(0);
  });

  test('sends a browser without a session to sign in, on every route', async () => {
    const anonymous = new Agent(server.url);
    for (const { method, path } of routesOf(build)) {
      const res = await anonymous.request(path, { method, ...(method === 'POST' && { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }) });
      expect({ method, path, status: res.status, location: res.headers.get('location')?.split('?')[0] }).toEqual({ method, path, status: 303, location: '/masuk' });
    }
  });

  test(`refuses a signed-in citizen without the ${role} role, on every route (a valid CSRF token does not help)`, async () => {
    const citizen = await signedIn(SITI, '/akun');
    const _csrf = csrfTokenOf(citizen.html);
    for (const { method, path } of routesOf(build)) {
      const res = method === 'GET' ? await citizen.agent.request(path) : await citizen.agent.post(path, { _csrf });
      const page = await res.text();
      expect({ method, path, status: res.status, refusedForRole: page.includes(`peran ${role}`) }).toEqual({ method, path, status: 403, refusedForRole: true });
    }
  });

  test(`answers staff of the ${role} role without a second factor with the page that links to its setup, on every route (a valid CSRF token does not help), audited, nothing changed`, async () => {
    const bare = await signedIn(BARE[role], `/${role}`);
    expect(bare.res.status).toBe(403);
    expect(bare.html).toContain('Aktifkan verifikasi dua langkah dahulu');
    const _csrf = await csrfOf(bare.agent);
    const tables = async () => (await server.instance.db.query<{ n: string }>(
      'select (select count(*) from client_requests) + (select count(*) from staff_invitations) + (select count(*) from signing_keys) + (select count(*) from units) as n',
    )).rows[0]!.n;
    const id = (await server.instance.citizens.findByEmail(BARE[role].email))!.id;
    const refusals = async () => (await server.instance.db.query<{ details: { role: string } }>(
      "select details from audit_events where type = 'staff.second_factor_missing' and citizen_id = $1", [id],
    )).rows;
    const [before, refusedBefore] = [await tables(), (await refusals()).length];
    const routes = routesOf(build);
    for (const { method, path } of routes) {
      const res = method === 'GET' ? await bare.agent.request(path) : await bare.agent.post(path, { _csrf });
      const page = await res.text();
      expect({ method, path, status: res.status, setup: page.includes('<a class="button" href="/akun/dua-langkah">Atur verifikasi dua langkah sekarang</a>') })
        .toEqual({ method, path, status: 403, setup: true });
    }
    expect(await tables()).toBe(before);
    const audited = await refusals();
    expect(audited.length - refusedBefore).toBe(routes.length);
    expect(audited.every((r) => r.details.role === role)).toBe(true);
    // In English too, the reason first.
    const english = await (await bare.agent.request(`/${role}?lang=en`)).text();
    expect(english).toContain('Turn on two-step verification first');
    expect(english).toContain(role === 'developer' ? 'redirect URIs' : 'approve services');
  });
});

test('a developer who sets up a second factor after signing in is asked for it (step-up) before the portal opens', async () => {
  const bare = await signedIn(LATE_DEV, '/developer');
  expect(bare.res.status).toBe(403);
  expect(bare.html).toContain('redirect URI');
  const totp = await enrolTotp(server.instance, LATE_DEV.email);
  // The session's login did not use the second factor: the portal sends the browser to sign in again.
  const stepUp = await bare.agent.request('/developer');
  expect(stepUp.status).toBe(303);
  expect(stepUp.headers.get('location')).toBe('/masuk?lanjut=%2Fdeveloper');
  const posted = await bare.agent.post('/developer/permintaan/baru', { _csrf: await csrfOf(bare.agent), name: 'Layanan Jalan' });
  expect(posted.headers.get('location')).toBe('/masuk?lanjut=%2Fdeveloper');
  // The sign-in asks for the password and then the code; a wrong code does not open the portal.
  const { res, url } = await bare.agent.follow(stepUp.headers.get('location')!);
  const loginPage = await res!.text();
  expect(loginPage).toContain('name="password"');
  const codePage = await bare.agent.post(`${url}/login`, { _csrf: csrfTokenOf(loginPage), identifier: LATE_DEV.email, password: LATE_DEV.password });
  expect(codePage.status).toBe(200);
  const codeCsrf = csrfTokenOf(await codePage.text());
  expect((await bare.agent.post(`${url}/otp`, { _csrf: codeCsrf, code: '000000' })).status).toBe(400);
  expect((await bare.agent.request('/developer')).status).toBe(303);
  const right = await bare.agent.post(`${url}/otp`, { _csrf: codeCsrf, code: await totpCode(totp) });
  expect(right.status).toBe(303);
  const landed = await bare.agent.follow(right.headers.get('location')!);
  expect(new URL(landed.url).pathname).toBe('/developer');
  expect(landed.res!.status).toBe(200);
  expect(await landed.res!.text()).toContain('Portal pengembang');
});

test('a developer cannot open the admin console', async () => {
  const developer = await signedIn(DEV, '/developer', devTotp);
  expect(developer.res.status).toBe(200);
  const res = await developer.agent.request('/admin');
  expect(res.status).toBe(403);
});
