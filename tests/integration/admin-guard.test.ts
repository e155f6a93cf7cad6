/**
 * Every route of the admin console and of the developer portal refuses whoever lacks the role.
 * The routes are read from the same routers the app mounts, so a route added without the guard
 * fails here, route by route.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { Agent, csrfTokenOf, signIn } from '../support/agent.js';
import { SITI, createCitizen } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { adminRouter } from '../../src/web/admin/router.js';
import { developerRouter } from '../../src/web/developer/router.js';
import type { AppDeps } from '../../src/web/app.js';

const DEV = { nik: '3571020512880003', name: 'Budi Pengembang', birthdate: '1988-12-05', email: 'budi@bppkad.example.id', password: 'sepeda-biru-di-jalan-dhoho' };

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  await createCitizen(server.instance);
  await createCitizen(server.instance, DEV);
  await server.instance.staff.grant(DEV.email, 'developer', 'test', 'bppkad');
});
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

/** A browser signed in (a fresh login) as this person, with a CSRF token of its own. */
async function signedIn(who: { email: string; password: string }, area: string) {
  const agent = new Agent(server.url);
  const start = await agent.request(area);
  const landed = await signIn(agent, start.headers.get('location')!, who.email, who.password);
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
});

test('a developer cannot open the admin console', async () => {
  const developer = await signedIn(DEV, '/developer');
  expect(developer.res.status).toBe(200);
  const res = await developer.agent.request('/admin');
  expect(res.status).toBe(403);
});
