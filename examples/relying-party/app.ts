/**
 * A unit's web service that signs citizens in with Kediri ID: the smallest complete relying party.
 * Read it top to bottom; docs/integrasi.md (docs/integration.md in English) explains each step.
 *
 *   GET  /                     home: signed in or not, the ID token claims and the userinfo
 *   GET  /login                starts a sign-in (PKCE, state, nonce) and sends the browser to Kediri ID;
 *                              also the initiate_login_uri: Kediri ID sends citizens here with ?iss=
 *   GET  /callback             Kediri ID sends the browser back here with a code: exchange it
 *   POST /refresh              uses the refresh token, shows the new expiry
 *   POST /logout               ends the local session, then RP-initiated logout at Kediri ID
 *   GET  /signed-out           where Kediri ID sends the browser after logout
 *   POST /backchannel-logout   Kediri ID (server to server) says a session ended: end ours too
 */
import { randomBytes } from 'node:crypto';
import Koa, { type Context } from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface ExampleConfig {
  issuer: string; // e.g. http://localhost:3000
  clientId: string;
  clientSecret: string;
  redirectUri: string; // registered at Kediri ID exactly as written here
  postLogoutRedirectUri: string; // registered too (--post-logout-redirect-uri)
  scope: string; // e.g. "openid profile email offline_access"
  acrValues?: string; // e.g. "urn:kediri:acr:verified"
}

/** What this app remembers about one browser. Kept in memory: a real service uses its own store. */
interface Session {
  login?: { state: string; nonce: string; codeVerifier: string; returnTo: string }; // a sign-in in progress
  user?: {
    sub: string;
    sid?: string; // Kediri ID's session id: back-channel logout names it
    idToken: string;
    claims: Record<string, unknown>;
    userinfo: Record<string, unknown>;
    refreshToken?: string;
    expiresAt?: number; // of the access token, in ms
  };
  notice?: string; // a one-line message for the home page
}

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const COOKIE = 'example_session';

export async function createExampleApp(config: ExampleConfig): Promise<Koa> {
  // 1. Discovery: read the endpoints and keys from /.well-known/openid-configuration.
  //    Plain http is allowed only for a Kediri ID on this machine (development).
  const issuer = new URL(config.issuer);
  const local = issuer.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  const rp = await oidc.discovery(issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret),
    local ? { execute: [oidc.allowInsecureRequests] } : undefined);
  // openid-client trusts the TLS channel by default; make it check the ID token's signature too.
  oidc.enableNonRepudiationChecks(rp);
  const meta = rp.serverMetadata();
  // The same keys sign logout tokens. jose caches them and fetches again when a token names an
  // unknown kid (after a key rotation at Kediri ID): nothing to restart.
  const jwks = createRemoteJWKSet(new URL(meta.jwks_uri!));

  const sessions = new Map<string, Session>();
  const seenLogoutTokens = new Map<string, number>(); // jti -> exp (ms): a logout token is used once

  /** The browser's session, made on first use; the cookie holds only a random id. */
  function session(ctx: Context): Session {
    let id = ctx.cookies.get(COOKIE);
    if (!id || !sessions.has(id)) {
      id = randomBytes(32).toString('base64url');
      sessions.set(id, {});
      // httpOnly: no script reads it; SameSite=Lax: other sites cannot POST with it (our CSRF defence).
      ctx.cookies.set(COOKIE, id, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false });
    }
    return sessions.get(id)!;
  }

  const router = new Router();

  router.get('/', (ctx) => {
    const s = session(ctx);
    const notice = s.notice ? `<p class="notice">${esc(s.notice)}</p>` : '';
    delete s.notice;
    if (!s.user) {
      ctx.body = page('Signed out', `${notice}<p>You are not signed in.</p><p><a href="/login">Sign in with Kediri ID</a></p>`);
      return;
    }
    const { user } = s;
    const expiry = user.expiresAt ? new Date(user.expiresAt).toISOString() : 'unknown';
    ctx.body = page(`Signed in as ${String(user.userinfo.name ?? user.sub)}`, `${notice}
      <h2>ID token claims</h2><pre id="claims">${esc(JSON.stringify(user.claims, null, 2))}</pre>
      <h2>Userinfo</h2><pre id="userinfo">${esc(JSON.stringify(user.userinfo, null, 2))}</pre>
      <p>Access token valid until <strong id="expiry">${esc(expiry)}</strong>.</p>
      <form method="post" action="/refresh"><button ${user.refreshToken ? '' : 'disabled'}>Refresh</button></form>
      <form method="post" action="/logout"><button>Sign out</button></form>`);
  });

  // 2. Start a sign-in: a PKCE verifier, state and nonce, kept in the session (never in the URL).
  //    Registered as the initiate_login_uri too (third-party initiated login, OpenID Connect Core
  //    §4): a citizen who opens this service from Kediri ID arrives with ?iss=, which must be
  //    Kediri ID's issuer, and maybe ?target_link_uri=, followed only to a page of this app.
  router.get('/login', async (ctx) => {
    const { iss, target_link_uri: target } = ctx.query;
    if (iss !== undefined && iss !== meta.issuer) return fail(ctx, 400, 'This sign-in link comes from an unknown issuer.');
    const here = new URL(config.redirectUri).origin;
    const link = typeof target === 'string' ? URL.parse(target) : null;
    const s = session(ctx);
    s.login = {
      state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier(),
      returnTo: link?.origin === here ? link.pathname + link.search : '/',
    };
    const params: Record<string, string> = {
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state: s.login.state,
      nonce: s.login.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(s.login.codeVerifier),
      code_challenge_method: 'S256',
    };
    // A refresh token (offline_access) is only granted with consent asked in this very login.
    if (config.scope.split(' ').includes('offline_access')) params.prompt = 'consent';
    if (config.acrValues) params.acr_values = config.acrValues;
    ctx.redirect(oidc.buildAuthorizationUrl(rp, params).href);
  });

  // 3. The callback: openid-client checks state, iss, the ID token (signature, aud, nonce, expiry)
  //    and sends the code with the PKCE verifier and our client secret to the token endpoint.
  router.get('/callback', async (ctx) => {
    const s = session(ctx);
    const login = s.login;
    delete s.login; // one attempt per sign-in
    if (!login) return fail(ctx, 400, 'No sign-in in progress in this browser: start again.');
    const currentUrl = new URL(config.redirectUri);
    currentUrl.search = ctx.querystring;
    try {
      const tokens = await oidc.authorizationCodeGrant(rp, currentUrl, {
        pkceCodeVerifier: login.codeVerifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true,
      });
      const claims = tokens.claims()!;
      const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, claims.sub);
      s.user = {
        sub: claims.sub, sid: typeof claims.sid === 'string' ? claims.sid : undefined, idToken: tokens.id_token!,
        claims: { ...claims }, userinfo: { ...userinfo }, refreshToken: tokens.refresh_token, expiresAt: expiry(tokens),
      };
      ctx.redirect(login.returnTo);
    } catch (error) {
      // e.g. access_denied (the citizen pressed "Tolak"), unmet_authentication_requirements (the
      // account does not reach ACR_VALUES), or a failed check: show it, never the tokens.
      fail(ctx, 400, describe(error));
    }
  });

  // 4. Refresh: a new access token (and a new refresh token: Kediri ID rotates them on every use).
  router.post('/refresh', async (ctx) => {
    const s = session(ctx);
    if (!s.user?.refreshToken) return ctx.redirect('/');
    try {
      const tokens = await oidc.refreshTokenGrant(rp, s.user.refreshToken);
      s.user.refreshToken = tokens.refresh_token ?? s.user.refreshToken;
      s.user.expiresAt = expiry(tokens);
      if (tokens.id_token) {
        s.user.idToken = tokens.id_token;
        s.user.claims = { ...tokens.claims()! };
      }
      s.notice = 'Refreshed: a new access token.';
    } catch (error) {
      // invalid_grant: the grant is gone (the citizen revoked it, reset the password, ...): sign out.
      delete s.user;
      s.notice = `Refresh failed, signed out: ${describe(error)}`;
    }
    ctx.redirect('/');
  });

  // 5. Sign out: forget the local session, then end the one at Kediri ID (RP-initiated logout).
  router.post('/logout', (ctx) => {
    const s = session(ctx);
    const idToken = s.user?.idToken;
    sessions.delete(ctx.cookies.get(COOKIE)!);
    ctx.cookies.set(COOKIE, null);
    if (!idToken) return ctx.redirect('/');
    ctx.redirect(oidc.buildEndSessionUrl(rp, { id_token_hint: idToken, post_logout_redirect_uri: config.postLogoutRedirectUri }).href);
  });

  router.get('/signed-out', (ctx) => {
    ctx.body = page('Signed out', '<p>You signed out of this service and of Kediri ID.</p><p><a href="/">Home</a></p>');
  });

  // 6. Back-channel logout (OpenID Connect Back-Channel Logout 1.0): Kediri ID posts a signed
  //    logout_token when a citizen's session ends there. Verify it, end our sessions, answer 200.
  router.post('/backchannel-logout', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const body = ctx.request.body as Record<string, unknown> | undefined;
    try {
      if (typeof body?.logout_token !== 'string') throw new Error('logout_token is missing');
      const { payload } = await jwtVerify(body.logout_token, jwks, {
        issuer: meta.issuer, audience: config.clientId, typ: 'logout+jwt',
        algorithms: meta.id_token_signing_alg_values_supported ?? ['RS256'],
        maxTokenAge: '2 minutes', clockTolerance: 30, requiredClaims: ['iat', 'exp', 'jti', 'events'],
      });
      const events = payload.events as Record<string, unknown> | undefined;
      if (typeof events?.[BACKCHANNEL_EVENT] !== 'object') throw new Error('not a back-channel logout event');
      if ('nonce' in payload) throw new Error('a logout token carries no nonce');
      const { sid, sub, jti } = payload as { sid?: string; sub?: string; jti: string };
      if (!sid && !sub) throw new Error('neither sid nor sub');
      const now = Date.now();
      for (const [seen, exp] of seenLogoutTokens) if (exp < now) seenLogoutTokens.delete(seen);
      if (seenLogoutTokens.has(jti)) throw new Error('logout token replayed');
      seenLogoutTokens.set(jti, payload.exp! * 1000);
      // End every local session of that Kediri ID session (sid), or of the citizen (sub alone).
      for (const s of sessions.values()) {
        if (s.user && (sid ? s.user.sid === sid : s.user.sub === sub)) {
          delete s.user;
          s.notice = 'Kediri ID ended your session (back-channel logout).';
        }
      }
      ctx.status = 200;
      ctx.body = '';
    } catch (error) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: error instanceof Error ? error.message : 'invalid logout_token' };
    }
  });

  const app = new Koa();
  app.use(bodyParser({ enableTypes: ['form'] }));
  app.use(router.routes());
  return app;
}

/** When the access token expires, in ms since the epoch. */
function expiry(tokens: oidc.TokenEndpointResponseHelpers): number | undefined {
  const seconds = tokens.expiresIn();
  return seconds === undefined ? undefined : Date.now() + seconds * 1000;
}

/** An OAuth error as "code: description"; other errors by message. */
function describe(error: unknown): string {
  if (error instanceof oidc.AuthorizationResponseError || error instanceof oidc.ResponseBodyError) {
    return [error.error, error.error_description].filter(Boolean).join(': ');
  }
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    // 401 from the token endpoint, e.g. invalid_client for a wrong CLIENT_SECRET
    const { error: code, error_description: text } = error.cause[0]?.parameters ?? {};
    return [code ?? `HTTP ${error.status}`, text].filter(Boolean).join(': ');
  }
  return error instanceof Error ? error.message : String(error);
}

function fail(ctx: Context, status: number, message: string) {
  ctx.status = status;
  ctx.body = page('Sign-in failed', `<p class="error">${esc(message)}</p><p><a href="/">Home</a></p>`);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)} · Example service</title></head>
<body style="font-family:system-ui;max-width:48rem;margin:2rem auto;padding:0 1rem">
<p><small>Example service (a Kediri ID relying party)</small></p><h1>${esc(title)}</h1>${body}</body></html>`;
}
