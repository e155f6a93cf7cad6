import Router from '@koa/router';
import { createHash, randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import { InputError } from '../../errors.js';
import type { Staff, StaffRole } from '../../identity/staff.js';
import type { CitizenStore } from '../../identity/citizens.js';
import type { SecondFactors } from '../../identity/second-factors.js';
import type { Db } from '../../db/db.js';
import { enqueueSessionLogouts } from '../../oidc/payloads.js';
import { PORTAL_CLIENT_ID, portalRedirectUri } from '../../oidc/portal-client.js';
import { render } from '../render.js';
import { translator } from '../../i18n.js';
import { hasFields, jsonCookie } from '../json-cookie.js';
import { seeOther } from '../forms.js';

const SESSION_HOURS = 8;
/** How long after a login the changes that guard the account (second factors, email) may be made. */
const RECENT_LOGIN_MINUTES = 15;
/**
 * Where a sign-in may continue to (the home page, or a path of our own areas with a plain query);
 * the staff areas ask for a fresh login every time.
 */
const PORTAL_AREAS = /^\/((akun|loket|admin|developer|undangan)(\/[\w/-]*)?(\?[\w=&%.-]{0,2000})?)?$/;
const STAFF_AREAS = /^\/(loket|admin|developer)(\/|$)/;

interface PortalSession {
  accountId: string;
  /** Signed in at, and expires at (epoch ms). */
  signedInAt: number;
  expiresAt: number;
  /**
   * 1 when the login was a fresh one with the password (and second factor): what the staff areas
   * require; 2 when it was a fresh one at a national identity provider (INApas, IKD), which
   * guards a citizen's own changes but never opens a staff area (our second factor was not used).
   */
  fresh: number;
  /** Whether that fresh login used the account's second factor: what the staff areas require. */
  secondFactor: boolean;
}
interface PortalLogin {
  state: string;
  /** The PKCE verifier. */
  verifier: string;
  /** Where to go after signing in. */
  next: string;
  /** When the sign-in began (the database's clock, epoch ms). */
  startedAt: number;
}
const session = jsonCookie('kid.portal', SESSION_HOURS * 3600 * 1000, (v): v is PortalSession => hasFields(v, { accountId: 'string', signedInAt: 'number', expiresAt: 'number', fresh: 'number', secondFactor: 'boolean' }));
const pendingLogin = jsonCookie('kid.portal_login', 15 * 60 * 1000, (v): v is PortalLogin => hasFields(v, { state: 'string', verifier: 'string', next: 'string', startedAt: 'number' }));

/**
 * The portal session of Kediri ID's own areas: a person signs in with their own Kediri ID account
 * through the first-party portal client (authorization code with PKCE; a fresh login for the
 * staff areas), and the areas keep an 8-hour signed cookie. It ends when the password changes or
 * the account is locked; staff roles are read from the database on every request.
 */
export function portalSession(
  provider: Provider,
  { db, citizens, staff, secondFactors, audit }: { db: Db; citizens: CitizenStore; staff: Staff; secondFactors: SecondFactors; audit: Audit },
  issuer: string,
) {
  const router = new Router();
  const redirectUri = portalRedirectUri(issuer);

  router.get('/masuk', async (ctx) => {
    const { code, state, error } = ctx.query;
    if (typeof code !== 'string' && typeof error !== 'string') {
      const verifier = randomBytes(32).toString('base64url');
      const next = String(ctx.query.lanjut);
      const login = { state: randomBytes(16).toString('base64url'), verifier, next: PORTAL_AREAS.test(next) ? next : '/akun', startedAt: await citizens.databaseNow() };
      pendingLogin.set(ctx, login);
      const params = new URLSearchParams({
        client_id: PORTAL_CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: redirectUri,
        state: login.state,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        // A fresh login: for the staff areas, and when an action asks for a recent one (ulang=1).
        ...((STAFF_AREAS.test(login.next) || ctx.query.ulang === '1') && { prompt: 'login' }),
      });
      return seeOther(ctx, `/auth?${params}`);
    }
    const login = pendingLogin.get(ctx);
    pendingLogin.clear(ctx);
    if (!login || state !== login.state || typeof code !== 'string') throw new InputError('portal_login_invalid');
    // Redeem the code here, as the token endpoint would: this client, this redirect, PKCE, once.
    const grant = await provider.AuthorizationCode.find(code);
    const challenge = createHash('sha256').update(login.verifier).digest('base64url');
    if (
      !grant ||
      (grant as { consumed?: unknown }).consumed !== undefined ||
      grant.clientId !== PORTAL_CLIENT_ID ||
      grant.redirectUri !== redirectUri ||
      grant.codeChallenge !== challenge ||
      !(grant.grantId && (await provider.Grant.find(grant.grantId)))
    ) {
      throw new InputError('portal_login_invalid');
    }
    await grant.consume(); // atomic: of two redemptions one fails (see the adapter)
    const accountId = grant.accountId!;
    await audit({ type: 'portal.signed_in', citizenId: accountId, ip: ctx.ip, details: { area: login.next, roles: await staff.rolesOf(accountId) } });
    // Fresh: the person entered their password (and second factor) for this very sign-in; a code
    // sent to the phone alone does not make a staff area's or a guarded change's login.
    const made = await citizens.freshLogin(accountId, PORTAL_CLIENT_ID, login.startedAt);
    const fresh = { password: 1, upstream: 2, none: 0 }[made?.method ?? 'none'];
    session.set(ctx, { accountId, signedInAt: Date.now(), expiresAt: Date.now() + SESSION_HOURS * 3600 * 1000, fresh, secondFactor: made?.secondFactor ?? false });
    seeOther(ctx, login.next);
  });

  // Signing out of Kediri ID's own pages ends the Kediri ID session in this browser too: on a shared
  // computer the next person must not be signed straight back in.
  router.post('/keluar', async (ctx) => {
    session.clear(ctx);
    const provided = await provider.Session.get(ctx);
    if (provided.accountId) {
      // Every service that took part in this session is told (back-channel logout).
      await enqueueSessionLogouts(db, provided.accountId, { sessionId: provided.jti });
      await provided.destroy();
      await audit({ type: 'logout', citizenId: provided.accountId, ip: ctx.ip });
    }
    seeOther(ctx, '/');
  });

  /**
   * The account of the browser's portal session, when it has one that stands (none, expired, or
   * the account locked or its password changed since: undefined, and the cookie goes).
   */
  async function currentAccount(ctx: Context): Promise<string | undefined> {
    const current = session.get(ctx);
    if (!current) return undefined;
    if (current.expiresAt <= Date.now() || !(await citizens.sessionStands(current.accountId, current.signedInAt))) {
      session.clear(ctx);
      return undefined;
    }
    return current.accountId;
  }

  /** Lets the request through only with a portal session that stands (ctx.state.accountId). */
  async function signedIn(ctx: Context, next: Next) {
    const accountId = await currentAccount(ctx);
    if (!accountId) return seeOther(ctx, `/masuk?lanjut=${encodeURIComponent(ctx.path)}`);
    ctx.state.accountId = accountId;
    await next();
  }

  /** Where a sign-in asked for by this request comes back to: the page asked for, or, after a form post, its area's front page. */
  const backAfterLogin = (ctx: Context) => (ctx.method === 'GET' ? ctx.url : `/${ctx.path.split('/')[1]}`);

  /**
   * As signedIn, and only with a login (password and second factor, or at a national identity
   * provider) made for this portal session in the last RECENT_LOGIN_MINUTES: for the changes that guard the account, so that a session
   * left open, or a stolen session cookie, is not enough (as Login.gov asks for a recent login).
   * A change refused for want of one is audited.
   */
  async function recentLogin(ctx: Context, next: Next) {
    await signedIn(ctx, async () => {
      const current = session.get(ctx)!;
      if (current.fresh === 0 || Date.now() - current.signedInAt > RECENT_LOGIN_MINUTES * 60 * 1000) {
        if (ctx.method !== 'GET') {
          await audit({ type: 'portal.recent_login_required', citizenId: current.accountId, ip: ctx.ip, details: { method: ctx.method, path: ctx.path } });
        }
        return seeOther(ctx, `/masuk?ulang=1&lanjut=${encodeURIComponent(backAfterLogin(ctx))}`);
      }
      await next();
    });
  }

  /**
   * As signedIn, and only for staff with this role, who must have a second factor: administrators
   * and counter officers see citizens' data, and developers change where their services send
   * citizens (redirect URIs), their keys and secrets. Without one, every page and form of the area
   * answers the page that explains why and links to its setup (audited); with one, the session's
   * login must have used it, else the person signs in again and is asked for it (step-up).
   */
  function requireRole(role: StaffRole) {
    return (ctx: Context, next: Next) =>
      signedIn(ctx, async () => {
        const t = translator(ctx.state.lang);
        const current = session.get(ctx)!;
        if (current.fresh === 2) {
          // Just signed in at a national identity provider: a staff area wants our password and second factor.
          const link = { href: `/masuk?lanjut=${encodeURIComponent(ctx.path)}`, text: t('counter.password_login_link') };
          return render(ctx, 'error', { message: t('counter.password_login_required'), link }, 403);
        }
        if (current.fresh !== 1) {
          // A staff area needs a fresh login, not a session carried over from earlier.
          return seeOther(ctx, `/masuk?lanjut=${encodeURIComponent(backAfterLogin(ctx))}`);
        }
        if (!(await staff.rolesOf(ctx.state.accountId)).includes(role)) {
          return render(ctx, 'error', { message: t('counter.role_required', { role }) }, 403);
        }
        if (!(await secondFactors.required(ctx.state.accountId))) {
          await audit({ type: 'staff.second_factor_missing', citizenId: current.accountId, ip: ctx.ip, details: { role, method: ctx.method, path: ctx.path } });
          return render(ctx, 'second-factor-required', { role, area: `/${ctx.path.split('/')[1]}` }, 403);
        }
        if (!current.secondFactor) {
          // Signed in before the second factor was set up: the login again asks for it.
          return seeOther(ctx, `/masuk?lanjut=${encodeURIComponent(backAfterLogin(ctx))}`);
        }
        await next();
      });
  }

  /** The id of this browser's Kediri ID sign-in session (the provider's), when it has one of this account. */
  async function currentSignInSession(ctx: Context, accountId: string): Promise<string | undefined> {
    const provided = await provider.Session.get(ctx);
    return provided.accountId === accountId ? provided.jti : undefined;
  }

  return { routes: router, currentAccount, currentSignInSession, signedIn, recentLogin, requireRole };
}
