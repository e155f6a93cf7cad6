import * as oidc from 'openid-client';
import { Agent, signIn } from './agent.js';
import { CALLBACK } from './fixtures.js';

/** openid-client as a unit's relying party, over http on 127.0.0.1. */
export async function relyingParty(issuer: string, clientId: string, clientSecret: string): Promise<oidc.Configuration> {
  const rp = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret), {
    execute: [oidc.allowInsecureRequests],
  });
  // openid-client trusts the TLS channel by default; make it verify ID token signatures too.
  oidc.enableNonRepudiationChecks(rp);
  return rp;
}

/** An authorization request with PKCE (S256), state and nonce; checks are what the code exchange verifies. */
export async function authorizationRequest(rp: oidc.Configuration, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: CALLBACK,
    scope: 'openid',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url: url.toString(), checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}

/** A whole sign-in in a fresh browser, then the code exchange: the tokens a unit's service gets. */
export async function signInAndExchange(rp: oidc.Configuration, identifier: string, password: string, params: Record<string, string> = {}) {
  const request = await authorizationRequest(rp, params);
  const callback = await signIn(new Agent(rp.serverMetadata().issuer), request.url, identifier, password);
  return oidc.authorizationCodeGrant(rp, new URL(callback), request.checks);
}

/** The client credentials grant's outcome: 'ok', or the OAuth error. */
export async function tokenOutcome(rp: oidc.Configuration): Promise<string> {
  try {
    await oidc.clientCredentialsGrant(rp);
    return 'ok';
  } catch (error) {
    // A 401 comes as a WWW-Authenticate challenge, other refusals as the response body's error.
    const refusal = error as { error?: string; cause?: Array<{ parameters?: { error?: string } }> };
    return String(refusal.error ?? refusal.cause?.[0]?.parameters?.error);
  }
}

/** The outcome once it differs from `from`, or `from` after two seconds (the change was missed). */
export async function outcomeAfterChange(rp: oidc.Configuration, from: string): Promise<string> {
  const deadline = Date.now() + 2000;
  let outcome = await tokenOutcome(rp);
  while (outcome === from && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    outcome = await tokenOutcome(rp);
  }
  return outcome;
}
