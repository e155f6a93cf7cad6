import Router from '@koa/router';
import { createHash, randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Audit } from '../../audit/audit.js';
import { InputError } from '../../errors.js';
import type { Staff, StaffRole } from '../../identity/staff.js';
import { STAFF_CLIENT_ID, staffRedirectUri } from '../../oidc/provider.js';
import { requireCsrf } from '../csrf.js';
import { render } from '../render.js';
import { translator } from '../i18n.js';
import { hasFields, jsonCookie } from '../json-cookie.js';

const SESSION_HOURS = 8;
const STAFF_AREAS = /^\/(loket|admin)(\/[\w/-]*)?$/;

interface StaffSession {
  /** The account. */
  a: string;
  /** Signed in at, and expires at (epoch ms). */
  s: number;
  x: number;
}
interface StaffLogin {
  /** state, PKCE verifier, where to go next. */
  s: string;
  v: string;
  n: string;
}
const session = jsonCookie('kid.staff', SESSION_HOURS * 3600 * 1000, (v): v is StaffSession => hasFields(v, { a: 'string', s: 'number', x: 'number' }));
const pendingLogin = jsonCookie('kid.staff_login', 15 * 60 * 1000, (v): v is StaffLogin => hasFields(v, { s: 'string', v: 'string', n: 'string' }));

/**
 * The staff session: staff sign in with their own Kediri ID account through the first-party
 * staff client (authorization code with PKCE, a fresh login each time), and the staff areas keep
 * an 8-hour signed cookie. Roles are read from the database on every request, so revoking one
 * takes effect at once.
 */
export function staffSession(provider: Provider, staff: Staff, audit: Audit, issuer: string) {
  const router = new Router();
  const redirectUri = staffRedirectUri(issuer);

  router.get('/staf/masuk', async (ctx) => {
    const { code, state, error } = ctx.query;
    if (typeof code !== 'string' && typeof error !== 'string') {
      const verifier = randomBytes(32).toString('base64url');
      const next = String(ctx.query.lanjut);
      const login = { s: randomBytes(16).toString('base64url'), v: verifier, n: STAFF_AREAS.test(next) ? next : '/loket' };
      pendingLogin.set(ctx, login);
      const params = new URLSearchParams({
        client_id: STAFF_CLIENT_ID,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: redirectUri,
        state: login.s,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        prompt: 'login',
      });
      ctx.status = 303;
      return ctx.redirect(`/auth?${params}`);
    }
    const login = pendingLogin.get(ctx);
    pendingLogin.clear(ctx);
    if (!login || state !== login.s || typeof code !== 'string') throw new InputError('staff_login_invalid');
    // Redeem the code here, as the token endpoint would: this client, this redirect, PKCE, once.
    const grant = await provider.AuthorizationCode.find(code);
    const challenge = createHash('sha256').update(login.v).digest('base64url');
    if (!grant || grant.clientId !== STAFF_CLIENT_ID || grant.redirectUri !== redirectUri || grant.codeChallenge !== challenge) {
      throw new InputError('staff_login_invalid');
    }
    await grant.consume();
    const accountId = grant.accountId!;
    await audit({ type: 'staff.signed_in', citizenId: accountId, ip: ctx.ip, details: { roles: await staff.rolesOf(accountId) } });
    session.set(ctx, { a: accountId, s: Date.now(), x: Date.now() + SESSION_HOURS * 3600 * 1000 });
    ctx.status = 303;
    ctx.redirect(login.n);
  });

  router.post('/staf/keluar', (ctx) => {
    requireCsrf(ctx);
    session.clear(ctx);
    ctx.status = 303;
    ctx.redirect('/');
  });

  /** Lets the request through only for a signed-in staff member with this role (ctx.state.staffId). */
  function requireRole(role: StaffRole) {
    return async (ctx: Context, next: Next) => {
      const current = session.get(ctx);
      if (!current || current.x <= Date.now()) {
        ctx.status = 303;
        return ctx.redirect(`/staf/masuk?lanjut=${encodeURIComponent(ctx.path)}`);
      }
      if (!(await staff.sessionStands(current.a, current.s))) {
        // Locked, or the password changed since this session began: sign in again.
        session.clear(ctx);
        ctx.status = 303;
        return ctx.redirect(`/staf/masuk?lanjut=${encodeURIComponent(ctx.path)}`);
      }
      if (!(await staff.rolesOf(current.a)).includes(role)) {
        return render(ctx, 'error', { message: translator(ctx.state.lang)('counter.role_required', { role }) }, 403);
      }
      ctx.state.staffId = current.a;
      await next();
    };
  }

  return { routes: router, requireRole };
}
