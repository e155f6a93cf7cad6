import type { Context } from 'koa';
import { clientLabels } from '../../clients/clients.js';
import { claimsOfScopes, inClaimOrder } from '../../oidc/released-claims.js';
import { csvFile } from '../csv.js';
import { render } from '../render.js';
import type { AdminModule } from './router.js';

/** How many months the record shows, this one included. */
const MONTHS = 12;

const CSV_HEADER = [
  'client_id', 'service', 'unit', 'status', 'approved_scopes', 'approved_claims', 'nik_allowed', 'month', 'releases', 'citizens', 'released_claims',
] as const;

/**
 * The record of processing for the data protection officer (UU PDP; /admin/privasi): per
 * service, the claims it is approved for (its scopes, the nik scope only where an administrator
 * allows it) and its releases of personal data per month (audit/data-releases.ts), as a page and
 * as CSV.
 */
export const privacyRoutes: AdminModule = (router, { db, clients, dataReleases }) => {
  async function record() {
    const [approved, months] = await Promise.all([clients.approvedScopes(), dataReleases.perMonth(MONTHS)]);
    // A service no longer approved (rejected, or deleted) keeps its releases in the record,
    // approved for nothing now.
    const listed = new Set(approved.map((service) => service.clientId));
    const others = [...new Set(months.map((m) => m.clientId))].filter((clientId) => !listed.has(clientId));
    const labels = await clientLabels(db, others);
    const services = [...approved, ...others.map((clientId) => {
      const label = labels.get(clientId);
      return { clientId, name: label?.name ?? clientId, unitName: label?.unitName ?? '', status: label?.status ?? 'deleted', scopes: [] as string[], allowNik: false };
    })];
    return services.map((service) => ({
      ...service,
      claims: claimsOfScopes(['openid', ...service.scopes]),
      months: months.filter((m) => m.clientId === service.clientId).map((m) => ({ ...m, claims: inClaimOrder(m.claims) })),
    }));
  }

  router.get('/privasi', async (ctx) => render(ctx, 'admin/privacy', { services: await record(), months: MONTHS }));

  router.get('/privasi/unduh', async (ctx: Context) => {
    const rows = (await record()).flatMap((s) => {
      const about = [s.clientId, s.name, s.unitName, s.status, s.scopes.join(' '), s.claims.join(' '), s.allowNik ? 'yes' : 'no'];
      return s.months.length === 0
        ? [[...about, '', 0, 0, '']]
        : s.months.map((m) => [...about, m.month, m.releases, m.citizens, m.claims.join(' ')]);
    });
    ctx.set('Content-Disposition', 'attachment; filename="kediri-id-catatan-pemrosesan.csv"');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = csvFile(CSV_HEADER, rows);
  });
};
