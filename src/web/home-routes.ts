import Router from '@koa/router';
import type { Context } from 'koa';
import { lastSignIns } from '../audit/activity.js';
import { clientLabels } from '../clients/clients.js';
import type { Config } from '../config.js';
import type { Db } from '../db/db.js';
import type { CitizenStore } from '../identity/citizens.js';
import { PORTAL_CLIENT_ID } from '../oidc/portal-client.js';
import { render } from './render.js';

/** The most services the home page lists. */
const SERVICES_SHOWN = 20;

/** A service on the home page: where it opens (initiate-login-routes.ts), its unit, the last sign-in. */
export interface UsedService {
  clientId: string;
  name: string;
  unitName: string;
  lastSignInAt: Date;
}

/**
 * Kediri ID's front door (/): sign in and register; for a browser with a portal session, the
 * citizen's name, their account, and the services they have signed in to (active ones, the most
 * recent first, each opened by third-party initiated login); and where and when to have an
 * identity verified in person at the MPP. It never asks to sign in.
 */
export function homeRoutes(
  { db, citizens, config }: { db: Db; citizens: CitizenStore; config: Pick<Config, 'mpp'> },
  currentAccount: (ctx: Context) => Promise<string | undefined>,
): Router {
  const router = new Router();

  router.get('/', async (ctx) => {
    const accountId = await currentAccount(ctx);
    const citizen = accountId ? await citizens.findById(accountId) : undefined;
    const services = citizen ? await usedServices(db, citizen.id) : [];
    render(ctx, 'home', { citizen, services, mpp: config.mpp });
  });

  return router;
}

/** The active services a citizen signed in to (the audit log's successful logins), the most recent first. */
async function usedServices(db: Db, citizenId: string): Promise<UsedService[]> {
  const signIns = await lastSignIns(db, citizenId, [PORTAL_CLIENT_ID], SERVICES_SHOWN);
  const labels = await clientLabels(db, signIns.map((s) => s.clientId));
  return signIns.flatMap(({ clientId, at }) => {
    const label = labels.get(clientId);
    return label?.status === 'active' ? [{ clientId, name: label.name, unitName: label.unitName, lastSignInAt: at }] : [];
  });
}
