import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { AppDeps } from '../app.js';
import { render } from '../render.js';
import { translator } from '../../i18n.js';
import { weekActivity } from '../../audit/activity.js';
import { clientLabels } from '../../clients/clients.js';
import { colourClass, stackedBars } from './charts.js';
import { accessTokenRoutes } from './access-tokens.js';
import { auditLogRoutes } from './audit-log.js';
import { citizenRoutes } from './citizens.js';
import { reviewRoutes } from './review.js';
import { unitAndStaffRoutes } from './units-staff.js';
import { keyRoutes } from './keys.js';
import { catalogueRoutes } from './catalogue.js';
import { upstreamRoutes } from './upstreams.js';
import { resourceServerRoutes } from './resource-servers.js';
import { privacyRoutes } from './privacy.js';

/**
 * What an admin console module adds its routes to, and what it works with. What reveals or grants
 * the most (revealing a NIK, inviting staff, approving a client, issuing a registration token,
 * rotating keys, changing the upstreams citizens sign in with or the APIs clients may get tokens
 * for) also needs `recentLogin`: a login of the last minutes, not only a session.
 */
export type AdminModule = (router: Router, deps: AppDeps, recentLogin: Middleware) => void;

/**
 * The admin console (/admin): every route of every module is added to this one router, behind
 * `adminOnly`, so that no route can be reached without the admin role (tests/integration
 * admin-guard walks this router's routes one by one).
 */
export function adminRouter(deps: AppDeps, adminOnly: Middleware, recentLogin: Middleware): Router {
  const router = new Router({ prefix: '/admin' });
  router.use(adminOnly);
  router.get('/', async (ctx) => {
    const t = translator(ctx.state.lang);
    const [pending, week] = await Promise.all([deps.clientRequests.queue(), weekActivity(deps.db, (clientIds) => clientLabels(deps.db, clientIds))]);
    const unitLabel = (unit: string) => (unit === 'kediri-id' ? t('admin.dashboard.portal') : unit);
    const charts = [
      { title: t('admin.dashboard.logins'), series: week.loginsByUnit.map((u) => ({ label: unitLabel(u.unit), values: u.counts })) },
      { title: t('admin.dashboard.failures'), series: [
        { label: t('admin.dashboard.failed'), values: week.counts['login.failed'] },
        { label: t('admin.dashboard.locked'), values: week.counts['account.locked'] },
      ] },
      { title: t('admin.dashboard.registrations'), series: [
        { label: t('admin.dashboard.registered'), values: week.counts['citizen.created'] },
        { label: t('admin.dashboard.verified'), values: week.counts['identity.verified'] },
      ] },
    ].map((chart) => ({ ...chart, svg: stackedBars(chart.title, week.days, chart.series), colours: chart.series.map((_, k) => colourClass(k)) }));
    render(ctx, 'admin/home', { pending: pending.length, days: week.days, charts });
  });
  for (const module of [reviewRoutes, unitAndStaffRoutes, citizenRoutes, auditLogRoutes, accessTokenRoutes, keyRoutes, catalogueRoutes, upstreamRoutes, resourceServerRoutes, privacyRoutes]) module(router, deps, recentLogin);
  return router;
}
