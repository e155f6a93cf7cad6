import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../app.js';
import { render } from '../render.js';
import { accessTokenRoutes } from './access-tokens.js';
import { auditLogRoutes } from './audit-log.js';
import { citizenRoutes } from './citizens.js';
import { reviewRoutes } from './review.js';
import { unitAndStaffRoutes } from './units-staff.js';
import { keyRoutes } from './keys.js';

/** What an admin console module adds its routes to, and what it works with. */
export type AdminModule = (router: Router, deps: AppDeps) => void;

/**
 * The admin console (/admin): every route of every module is added to this one router, behind
 * `adminOnly`, so that no route can be reached without the admin role (tests/integration
 * admin-guard walks this router's routes one by one).
 */
export function adminRouter(deps: AppDeps, adminOnly: Middleware): Router {
  const router = new Router({ prefix: '/admin' });
  router.use(adminOnly);
  router.get('/', async (ctx) => render(ctx, 'admin/home', { pending: (await deps.clientRequests.queue()).length }));
  for (const module of [reviewRoutes, unitAndStaffRoutes, citizenRoutes, auditLogRoutes, accessTokenRoutes, keyRoutes]) module(router, deps);
  return router;
}
