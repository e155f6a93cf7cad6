import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../app.js';
import { formBody } from '../csrf.js';
import { render } from '../render.js';
import { developerAccess } from './access.js';
import { clientRoutes } from './client-routes.js';
import { requestRoutes } from './request-routes.js';
import { catalogueRoutes } from './catalogue-routes.js';

/**
 * The developer portal (/developer, README.md "Onboarding a unit's service"), behind
 * `developerOnly` (the developer role, a second factor, and a login that used it): a unit developer
 * registers clients and asks for changes to them; each page sees only the developer's units. What
 * sets where a service sends citizens or how it proves itself (redirect URIs in a new client or a
 * change request, public keys, a secret shown or rotated) also needs `recentLogin`, as the admin
 * console's weightiest actions do.
 */
export function developerRouter(deps: AppDeps, developerOnly: Middleware, recentLogin: Middleware): Router {
  const router = new Router({ prefix: '/developer' });
  const access = developerAccess(deps);
  router.use(developerOnly);
  // A client registration may carry a JWKS: these forms may be larger than the others.
  router.use(formBody('64kb'));

  // Each of the developer's units with its clients and its requests (newest first).
  router.get('/', async (ctx) => {
    const units = await access.unitList(ctx);
    const slugs = units.map((unit) => unit.slug);
    const [clients, requests] = await Promise.all([deps.clientRequests.clients(slugs), deps.clientRequests.forUnits(slugs)]);
    render(ctx, 'developer/home', {
      units: units.map((unit) => ({
        ...unit,
        clients: clients.filter((client) => client.unit === unit.slug),
        requests: requests.filter((request) => request.unit === unit.slug),
      })),
    });
  });

  requestRoutes(router, deps, access, recentLogin);
  clientRoutes(router, deps, access, recentLogin);
  catalogueRoutes(router, deps, access);
  return router;
}
