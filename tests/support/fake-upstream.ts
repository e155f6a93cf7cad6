import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompactSign, SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import type { UpstreamSettings } from '../../src/federation/upstreams.js';
import type { Services } from '../../src/services.js';
import Provider, { type Adapter, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import { Agent } from './agent.js';

/**
 * A stand-in for INApas, the national identity provider that Kediri ID signs people in with: a real
 * OpenID provider (oidc-provider, its own RS256 key) on 127.0.0.1, with a login page of its own, no
 * consent page, and switches for the failures a relying party must survive (a forged ID token, a
 * slow or absent upstream, back-channel logout tokens good and bad).
 */

export interface UpstreamPerson {
  /** What the person types on the fake's login page; also the `sub`. */
  login: string;
  /** The claims released: e.g. { nik: '3571024506900001', name: 'Siti Aminah', birthdate: '1990-06-05', email: '...', phone_number: '+62812...' }. */
  claims: Record<string, unknown>;
  /** The acr the upstream proved for this person's logins, e.g. 'urn:inapas:loa:3' (goes into the ID token's acr). */
  acr: string;
}

/** A change to the next ID token the token endpoint returns (then back to normal). */
export type IdTokenTamper = 'wrong_signature' | 'wrong_audience' | 'expired' | 'wrong_issuer' | 'wrong_nonce';

/** What is wrong with a logout token, for negative tests; nothing by default. */
export interface LogoutTokenOptions {
  /** Signed with another key (same kid and alg in the header). */
  wrongSignature?: true;
  /** Carries a nonce, which a logout token must not. */
  withNonce?: true;
  /** Has no events claim. */
  noEvents?: true;
  /** This jti instead of a random one: send the same twice to replay. */
  jti?: string;
  /** This aud instead of the client_id. */
  audience?: string;
}

export interface FakeUpstream {
  /** http://127.0.0.1:PORT (no trailing slash). */
  issuer: string;
  /** Someone who can sign in at the fake (replaces one with the same login). */
  addPerson(person: UpstreamPerson): void;
  /** Registers a client (oidc-provider client metadata: client_id, client_secret or jwks, redirect_uris, token_endpoint_auth_method, backchannel_logout_uri, ...). Clients can be added after start; metadata is checked at the client's first use. */
  addClient(metadata: Record<string, unknown>): void;
  /** The next ID token the token endpoint returns is changed so (once; the next after that is normal). */
  tamperNext(tamper: IdTokenTamper): void;
  /** Every response (discovery, jwks, token, userinfo, pages) waits this long first; 0 = normal. For timeout tests. */
  delayMs: number;
  /** Stops listening (connection refused afterwards): "the upstream is down". */
  stop(): Promise<void>;
  /** Listens again on the same port, with the same keys, people, clients and sessions. */
  restart(): Promise<void>;
  /**
   * Signs in `login` without a browser: GETs the authorization URL (built by the code under test),
   * posts the fake's login form, and returns the URL the upstream redirects the browser back to
   * (the relying party's redirect_uri with code and state, or with error=...).
   */
  signIn(authorizationUrl: string, login: string): Promise<string>;
  /** Same, but the person refuses (the fake answers the redirect_uri with error=access_denied). */
  refuse(authorizationUrl: string): Promise<string>;
  /**
   * Sends a back-channel logout token (OIDC Back-Channel Logout 1.0) to the client's registered
   * backchannel_logout_uri for this person (sub) and/or session id (sid), signed with the fake's
   * signing key unless options say otherwise; returns the HTTP status the relying party answered.
   */
  backchannelLogout(clientId: string, who: { sub?: string; sid?: string }, options?: LogoutTokenOptions): Promise<number>;
  /** The claims of the last ID token the token endpoint returned to this person (before any tamper), if any. */
  lastIdTokenClaims(login: string): JWTPayload | undefined;
  /** The sid of the person's last session at the fake (in ID tokens for clients with a backchannel_logout_uri), if any. */
  lastSid(login: string): string | undefined;
  /** Stops for good (the same as stop). */
  close(): Promise<void>;
}

const ALG = 'RS256';
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * oidc-provider's storage, in memory: a Map per model. Clients are not static configuration but
 * rows of the 'Client' model, which the provider reads on every request: so addClient works after
 * start (the provider caches a client by a hash of its metadata, so a changed one is seen too).
 */
type Table = Map<string, { payload: AdapterPayload; expiresAt: number }>;
function memoryAdapter(table: (model: string) => Table) {
  return class MemoryAdapter implements Adapter {
    private readonly rows: Table;
    constructor(model: string) {
      this.rows = table(model);
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      this.rows.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    }
    async find(id: string) {
      const row = this.rows.get(id);
      return row && row.expiresAt > Date.now() ? row.payload : undefined;
    }
    async findByUid(uid: string) {
      return [...this.rows.values()].find((row) => row.payload.uid === uid && row.expiresAt > Date.now())?.payload;
    }
    async findByUserCode(userCode: string) {
      return [...this.rows.values()].find((row) => row.payload.userCode === userCode && row.expiresAt > Date.now())?.payload;
    }
    async consume(id: string) {
      const row = this.rows.get(id);
      if (row) row.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      this.rows.delete(id);
    }
    async revokeByGrantId(grantId: string) {
      for (const [id, row] of this.rows) if (row.payload.grantId === grantId) this.rows.delete(id);
    }
  };
}

/** The fake's login page: what a Chromium test fills in (label "ID INApas", buttons "Masuk" and "Tolak"). */
function loginPage(uid: string, error?: string): string {
  return `<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>INApas</title></head>
<body><main><h1>INApas</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label for="login">ID INApas</label> <input id="login" name="login" autocomplete="username">
<button type="submit" name="action" value="login">Masuk</button>
<button type="submit" name="action" value="refuse">Tolak</button>
</form></main></body></html>`;
}

/** A browser that follows redirects only while they stay on the fake (same origin, not a mere prefix). */
class UpstreamAgent extends Agent {
  protected override isServer(url: string): boolean {
    return new URL(url).origin === this.origin;
  }
}

/** An address on this machine where nothing listens (a port listened on, then closed): an upstream that is down. */
export async function closedAddress(): Promise<string> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

/**
 * Starts the fake on a random port of 127.0.0.1. `nikClaim` names the NIK's claim and its scope
 * ('nik' by default); `acrValues` are the acr_values_supported it announces (INApas's levels of
 * assurance, 'urn:inapas:loa:1' to 3, by default; a person's acr need not be one of them);
 * `profileClaims` are the claims of the profile scope (name and birthdate by default). With
 * `claimsInUserinfoOnly` the ID token carries only sub, acr, amr, auth_time (and sid): every claim
 * of a scope, the NIK's too, comes from the userinfo endpoint alone.
 */
export async function startFakeUpstream(options: { nikClaim?: string; acrValues?: string[]; profileClaims?: string[]; claimsInUserinfoOnly?: boolean } = {}): Promise<FakeUpstream> {
  const nikClaim = options.nikClaim ?? 'nik';
  const people = new Map<string, UpstreamPerson>();
  const storage = new Map<string, Table>();
  const table = (model: string): Table => storage.get(model) ?? storage.set(model, new Map()).get(model)!;
  const sids = new Map<string, string>();
  const idTokens = new Map<string, JWTPayload>();
  let nextTamper: IdTokenTamper | undefined;

  const kid = randomUUID();
  const keys = await generateKeyPair(ALG, { extractable: true });
  const privateJwk = { ...(await exportJWK(keys.privateKey)), kid, alg: ALG, use: 'sig' };
  // Signs forgeries: a valid signature, but by a key the fake never published.
  const { privateKey: strangerKey } = await generateKeyPair(ALG);

  // The issuer must name the port, so the server listens before the provider exists.
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(table),
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    async findAccount(_ctx, sub) {
      const person = people.get(sub);
      return person && { accountId: sub, claims: () => ({ ...person.claims, sub }) };
    },
    // The ID token's claims are those of its scopes: acr, amr and auth_time belong to openid's, or
    // oidc-provider leaves them out (acr would only come when the client sends acr_values).
    claims: {
      sid: null,
      iss: null,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: options.profileClaims ?? ['name', 'birthdate'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      [nikClaim]: [nikClaim],
    },
    // The ID token carries every claim its scopes release, not only sub: Kediri ID reads the NIK
    // there (or, with claimsInUserinfoOnly, at the userinfo endpoint).
    conformIdTokenClaims: options.claimsInUserinfoOnly === true,
    acrValues: options.acrValues ?? ['urn:inapas:loa:1', 'urn:inapas:loa:2', 'urn:inapas:loa:3'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'private_key_jwt'],
    // Clients are web clients: oidc-provider accepts their http://127.0.0.1 redirect URIs (it asks
    // for https only with the implicit flow, which the fake does not offer).
    // A client with a backchannel_logout_uri gets sid in its ID tokens (oidc-provider adds it only
    // with backchannel_logout_session_required, false by default).
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: ALG,
      backchannel_logout_session_required: true,
    },
    // No consent page: whatever openid scopes and claims the client asks for are granted.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
      grant.addOIDCScope(ctx.oidc.requestParamOIDCScopes);
      grant.addOIDCClaims(ctx.oidc.requestParamClaims);
      await grant.save();
      return grant;
    },
    // A client's jwks_uri (Kediri ID's /masuk-dengan/SLUG/jwks.json, for private_key_jwt) is on
    // 127.0.0.1 like the fake: fetched without oidc-provider's SSRF dispatcher, which refuses
    // loopback addresses wherever it can be set up.
    fetch: (url, options) => fetch(url, { ...options, dispatcher: undefined } as RequestInit),
    // Numbers, not oidc-provider's default functions, which print a notice at each first use.
    ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
    },
  });

  // Before everything else: the slow upstream.
  provider.use(async (_ctx, next) => {
    if (fake.delayMs > 0) await sleep(fake.delayMs);
    await next();
  });

  // Around the token endpoint: remembers each session's sid and each person's last ID token, and
  // forges the ID token when asked.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== '/token' || ctx.status !== 200) return;
    const body = ctx.body as { id_token?: unknown } | undefined;
    if (typeof body?.id_token !== 'string') return;
    const claims = decodeJwt(body.id_token);
    if (typeof claims.sub === 'string') idTokens.set(claims.sub, claims);
    if (typeof claims.sub === 'string' && typeof claims.sid === 'string') sids.set(claims.sub, claims.sid);
    const tamper = nextTamper;
    nextTamper = undefined;
    if (tamper) ctx.body = { ...body, id_token: await tampered(body.id_token, tamper) };
  });

  // The login page (the only prompt: loadExistingGrant leaves no consent to ask).
  provider.use(async (ctx, next) => {
    const uid = /^\/interaction\/([\w-]+)$/.exec(ctx.path)?.[1];
    if (!uid) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name !== 'login') throw new Error(`the fake upstream has no page for the ${details.prompt.name} prompt`);
    ctx.type = 'html';
    if (ctx.method === 'GET') return void (ctx.body = loginPage(uid));
    if (ctx.method !== 'POST') return void (ctx.status = 405);
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const refused = form.get('action') === 'refuse';
    const person = people.get(form.get('login') ?? '');
    if (!refused && !person) return void (ctx.body = loginPage(uid, 'ID INApas tidak dikenal.'));
    const result = refused
      ? { error: 'access_denied', error_description: 'the person refused' }
      : { login: { accountId: person!.login, acr: person!.acr, amr: ['pwd'] } };
    // interactionResult, not interactionFinished (which writes to the raw response behind Koa's back).
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(returnTo);
    ctx.status = 303;
  });

  server.on('request', provider.callback());

  /** The ID token, changed as asked and signed again (with the fake's key but for wrong_signature). */
  async function tampered(idToken: string, tamper: IdTokenTamper): Promise<string> {
    const header = decodeProtectedHeader(idToken);
    const claims: JWTPayload = decodeJwt(idToken);
    const now = Math.floor(Date.now() / 1000);
    if (tamper === 'wrong_audience') claims.aud = 'someone-else';
    if (tamper === 'expired') Object.assign(claims, { iat: now - 2 * 3600, exp: now - 3600 });
    if (tamper === 'wrong_issuer') claims.iss = 'https://evil.example';
    if (tamper === 'wrong_nonce') claims.nonce = randomBytes(16).toString('base64url');
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ ...header, alg: header.alg ?? ALG })
      .sign(tamper === 'wrong_signature' ? strangerKey : keys.privateKey);
  }

  /** The authorization request up to the login page, then the form posted with `fields`. */
  async function answer(authorizationUrl: string, fields: Record<string, string>): Promise<string> {
    const agent = new UpstreamAgent(issuer);
    const { res, url } = await agent.follow(authorizationUrl);
    if (!url.includes('/interaction/')) return url; // an error redirect, or no login asked
    await res?.arrayBuffer();
    const posted = await agent.post(url, fields);
    const location = posted.headers.get('location');
    if (posted.status !== 303 || !location) throw new Error(`the fake upstream's login form answered ${posted.status}: ${await posted.text()}`);
    return (await agent.follow(location)).url;
  }

  const fake: FakeUpstream = {
    issuer,
    delayMs: 0,
    addPerson(person) {
      people.set(person.login, person);
    },
    addClient(metadata) {
      const clientId = metadata.client_id;
      if (typeof clientId !== 'string') throw new Error('a client needs a client_id');
      table('Client').set(clientId, { payload: { ...metadata } as AdapterPayload, expiresAt: Infinity });
    },
    tamperNext(tamper) {
      nextTamper = tamper;
    },
    async stop() {
      if (!server.listening) return;
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections(); // keep-alive sockets and delayed requests too: down is down
      });
      // Lets clients in this process see their pooled sockets closed, so that their next request
      // is refused (ECONNREFUSED) rather than sent on a dead socket (UND_ERR_SOCKET).
      await sleep(20);
    },
    restart() {
      return new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    signIn(authorizationUrl, login) {
      return answer(authorizationUrl, { login, action: 'login' });
    },
    refuse(authorizationUrl) {
      return answer(authorizationUrl, { action: 'refuse' });
    },
    async backchannelLogout(clientId, who, options = {}) {
      const client = table('Client').get(clientId)?.payload;
      const uri = client?.backchannel_logout_uri;
      if (typeof uri !== 'string') throw new Error(`client ${clientId} has no backchannel_logout_uri at the fake upstream`);
      const token = await new SignJWT({
        ...(!options.noEvents && { events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } }),
        ...(who.sub && { sub: who.sub }),
        ...(who.sid && { sid: who.sid }),
        ...(options.withNonce && { nonce: randomBytes(16).toString('base64url') }),
      })
        .setProtectedHeader({ alg: ALG, kid, typ: 'logout+jwt' })
        .setIssuer(issuer)
        .setAudience(options.audience ?? clientId)
        .setIssuedAt()
        .setExpirationTime('2m')
        .setJti(options.jti ?? randomUUID())
        .sign(options.wrongSignature ? strangerKey : keys.privateKey);
      const res = await fetch(uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }).toString(),
      });
      await res.arrayBuffer();
      return res.status;
    },
    lastSid(login) {
      return sids.get(login);
    },
    lastIdTokenClaims(login) {
      return idTokens.get(login);
    },
    close() {
      return fake.stop();
    },
  };
  return fake;
}

/** The acr the fake's people prove by default, and the one Kediri ID's test upstreams count as verified. */
export const LOA3 = 'urn:inapas:loa:3';
/** Kediri ID's client secret at the fake. */
export const KEDIRI_CLIENT_SECRET = 'rahasia-klien-inapas-untuk-kediri-id';

/**
 * The settings Kediri ID is given for an upstream the fake plays (client_secret_basic, the fake's
 * claims, LOA3 counted as verified), with what a test changes.
 */
export function kediriUpstreamSettings(slug: string, issuer: string, overrides: Partial<UpstreamSettings> = {}): UpstreamSettings {
  return {
    slug,
    label: 'INApas',
    issuer,
    clientId: 'kediri-id',
    clientSecret: KEDIRI_CLIENT_SECRET,
    authMethod: 'client_secret_basic',
    scopes: 'openid profile email phone nik',
    nikClaim: 'nik',
    claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' },
    verifiedAcr: LOA3,
    mfaAcr: '',
    enabled: true,
    ...overrides,
  };
}

/**
 * Kediri ID (at `kediriUrl`) as the fake's client, with its redirect and back-channel logout URIs,
 * and the fake as Kediri ID's upstream 'inapas' (kediriUpstreamSettings).
 */
export async function connectKediri(fake: FakeUpstream, kediri: { url: string; instance: Pick<Services, 'upstreams'> }): Promise<void> {
  fake.addClient({
    client_id: 'kediri-id',
    client_secret: KEDIRI_CLIENT_SECRET,
    redirect_uris: [`${kediri.url}/masuk-dengan/inapas/kembali`],
    backchannel_logout_uri: `${kediri.url}/masuk-dengan/inapas/keluar`,
    token_endpoint_auth_method: 'client_secret_basic',
  });
  await kediri.instance.upstreams.create(kediriUpstreamSettings('inapas', fake.issuer), 'test', '127.0.0.1');
}
