import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Account } from '../../identity/account.js';
import type { CitizenStore } from '../../identity/citizens.js';
import { InputError } from '../../errors.js';
import { maskNik } from '../../identity/nik.js';
import { field, fieldErrors, message, parseForm, seeOther, typed } from '../forms.js';
import type { Upstreams } from '../../federation/upstreams.js';
import type { UpstreamAccounts } from '../../federation/upstream-accounts.js';
import { render } from '../render.js';
import type { SecondFactors } from '../../identity/second-factors.js';
import type { Passkeys } from '../../identity/passkeys.js';
import type { CibaConfirmations } from '../../oidc/ciba.js';
import { clientLabels } from '../../clients/clients.js';
import { inClaimOrder } from '../../oidc/released-claims.js';
import type { Db } from '../../db/db.js';
import { describeAddress, describeUserAgent } from './devices.js';

const revokeForm = z.object({ grant: field(100) });
const sessionForm = z.object({ session: field(100) });
const passwordForm = z.object({ current: typed, password: typed, password_confirm: typed });
const deleteForm = z.object({ password: typed, confirm: field(8) });
const unlinkForm = z.object({ upstream: field(40) });


/**
 * The citizen's account page (/akun): a counter's requests to confirm (answered in
 * confirmation-routes.ts), profile, connected services (revoking one withdraws the consent), the
 * data shared with services (UU PDP), sessions, the national identity providers
 * linked (INApas, IKD), password, activity, download my data, delete the account. Second factors
 * are in factor-routes.ts.
 */
export function accountRoutes(
  { db, account, citizens, secondFactors, passkeys, confirmations, upstreams, upstreamAccounts }: {
    db: Db; account: Account; citizens: CitizenStore; secondFactors: SecondFactors; passkeys: Passkeys; confirmations: CibaConfirmations;
    upstreams: Upstreams; upstreamAccounts: UpstreamAccounts;
  },
  { signedIn, recentLogin, currentSignInSession }: {
    signedIn: Middleware; recentLogin: Middleware; currentSignInSession: (ctx: Context, accountId: string) => Promise<string | undefined>;
  },
): Router {
  const router = new Router({ prefix: '/akun' });
  router.use(signedIn);

  /**
   * What guards the password and the account's deletion: the password itself, or, for an account
   * made at a national identity provider (it has none), a recent login.
   */
  const passwordOrRecentLogin: Middleware = async (ctx, next) =>
    (await citizens.hasPassword(ctx.state.accountId)) ? next() : recentLogin(ctx, next);

  /**
   * The account's sign-in sessions as the citizen recognises them: the browser and system, the
   * place (the local network, or the address partly hidden), and this browser's session first.
   */
  async function sessionsOf(ctx: Context, accountId: string) {
    const current = await currentSignInSession(ctx, accountId);
    const sessions = (await account.sessions(accountId)).map(({ userAgent, ip, ...session }) => ({
      ...session, device: describeUserAgent(userAgent), place: describeAddress(ip), current: session.id === current,
    }));
    return [...sessions.filter((s) => s.current), ...sessions.filter((s) => !s.current)];
  }

  router.get('/', async (ctx) => {
    const id: string = ctx.state.accountId;
    const citizen = await citizens.findById(id);
    if (!citizen) throw new InputError('account_unknown');
    const labels = new Map((await upstreams.list()).map((u) => [u.slug, u.label]));
    const links = (await upstreamAccounts.links(id)).map((link) => ({ ...link, label: labels.get(link.slug) ?? link.slug }));
    const services = await account.connectedServices(id);
    const releases = await account.dataReleases(id);
    const names = await clientLabels(db, releases.map((r) => r.clientId));
    const shared = releases.map((r) => ({
      ...r, claims: inClaimOrder(r.claims), name: names.get(r.clientId)?.name ?? r.clientId, connected: services.some((s) => s.clientId === r.clientId),
    }));
    render(ctx, 'account/overview', {
      citizen,
      hasPassword: await citizens.hasPassword(id),
      links,
      nik: maskNik((await citizens.nikOf(id))!),
      services,
      shared,
      activity: (await account.activity(id, 20)).map((a) => ({ ...a, place: describeAddress(a.ip) })),
      factors: await secondFactors.summary(id),
      passkeys: await passkeys.list(id),
      sessions: await sessionsOf(ctx, id),
      confirmations: await confirmations.pending(id),
      notice: ['dicabut', 'sesi', 'sandi', 'faktor', 'disetujui', 'ditolak', 'tautan'].find((key) => ctx.query[key] === '1'),
    });
  });

  router.post('/layanan/cabut', async (ctx) => {
    const { grant } = parseForm(ctx, revokeForm);
    if (!(await account.revokeService(ctx.state.accountId, grant, ctx.ip))) throw new InputError('grant_unknown');
    seeOther(ctx, '/akun?dicabut=1');
  });

  router.post('/sesi/akhiri', async (ctx) => {
    const { session } = parseForm(ctx, sessionForm);
    if (!(await account.endSession(ctx.state.accountId, session, ctx.ip))) throw new InputError('session_unknown');
    seeOther(ctx, '/akun?sesi=1');
  });

  router.post('/sesi/akhiri-semua', async (ctx) => {
    await account.endAllSessions(ctx.state.accountId, ctx.ip);
    seeOther(ctx, '/akun?sesi=1');
  });

  // Unlinking takes a way in away: a recent login, as for the other changes that guard the account.
  router.post('/masuk-dengan/hapus', recentLogin, async (ctx) => {
    const { upstream } = parseForm(ctx, unlinkForm);
    try {
      await upstreamAccounts.unlink(ctx.state.accountId, upstream, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError) || error.code !== 'upstream_link_last') throw error;
      return render(ctx, 'error', { message: message(ctx, 'account.links.last'), link: { href: '/akun/kata-sandi', text: message(ctx, 'account.links.set_password') } }, 409);
    }
    seeOther(ctx, '/akun?tautan=1');
  });

  const showPassword = async (ctx: Context, errors: object[] = [], status = 200) =>
    render(ctx, 'account/password', { errors, hasPassword: await citizens.hasPassword(ctx.state.accountId) }, status);

  router.get('/kata-sandi', passwordOrRecentLogin, (ctx) => showPassword(ctx));

  router.post('/kata-sandi', passwordOrRecentLogin, async (ctx) => {
    const form = parseForm(ctx, passwordForm);
    const problems = form.password === form.password_confirm ? [] : [new InputError('password_mismatch', 'password_confirm')];
    try {
      if (problems.length === 0) await account.changePassword(ctx.state.accountId, form.current, form.password, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(error);
    }
    if (problems.length > 0) return showPassword(ctx, fieldErrors(ctx, problems), 400);
    seeOther(ctx, '/akun?sandi=1');
  });

  const showDelete = async (ctx: Context, errors: object[] = [], status = 200) =>
    render(ctx, 'account/delete', { errors, hasPassword: await citizens.hasPassword(ctx.state.accountId) }, status);

  router.get('/hapus', passwordOrRecentLogin, (ctx) => showDelete(ctx));

  router.post('/hapus', passwordOrRecentLogin, async (ctx) => {
    const form = parseForm(ctx, deleteForm);
    const problems = form.confirm === 'ya' ? [] : [new InputError('delete_confirm_required', 'confirm')];
    try {
      if (problems.length === 0) await account.deleteAccount(ctx.state.accountId, form.password, ctx.ip);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(error);
    }
    if (problems.length > 0) return showDelete(ctx, fieldErrors(ctx, problems), 400);
    render(ctx, 'account/deleted');
  });

  router.get('/data', async (ctx) => {
    const id: string = ctx.state.accountId;
    const data = { ...(await account.export(id)), secondFactors: { ...(await secondFactors.summary(id)), passkeys: await passkeys.list(id) } };
    ctx.set('Content-Disposition', 'attachment; filename="kediri-id-data-saya.json"');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(data, null, 2);
  });

  return router;
}
