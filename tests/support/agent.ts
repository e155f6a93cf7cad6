import { totpCode } from './fixtures.js';

/**
 * A small browser for the server-rendered pages: a cookie jar, manual redirects, and form posts.
 * (tests/e2e drives a real Chromium; this one keeps protocol tests fast.)
 */
export class Agent {
  private readonly cookies = new Map<string, string>();

  constructor(protected readonly origin: string) {}

  /** Whether a URL is this server's: redirects are followed while they stay on it. */
  protected isServer(url: string): boolean {
    return url.startsWith(this.origin);
  }

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(new URL(url, this.origin), { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*(max-age=0|expires=Thu, 01 Jan 1970)/i.exec(a) !== null);
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    return res;
  }

  /**
   * GETs url and follows redirects while they stay on the server. Returns the last response and
   * the last URL: where the server sent the browser when that is off the server (res is then the
   * redirect that pointed there, or undefined when url itself was off the server).
   */
  async follow(url: string): Promise<{ res: Response | undefined; url: string }> {
    let current = new URL(url, this.origin).toString();
    let res: Response | undefined;
    for (let hops = 0; hops < 10; hops++) {
      if (!this.isServer(current)) return { res, url: current };
      res = await this.request(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current };
      await res.arrayBuffer(); // a redirect's body is not read: free its connection for the next request
      current = new URL(location, current).toString();
    }
    throw new Error('too many redirects');
  }

  /** The values of the cookies this browser holds (for tests that look for them where they must not be). */
  cookieValues(): string[] {
    return [...this.cookies.values()];
  }

  /** POSTs a form; the response is returned without following its redirect. */
  post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

export function csrfTokenOf(html: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!token) throw new Error('page has no CSRF token');
  return token;
}

/**
 * Runs the citizen's side of an authorization request: login (with a code from the TOTP app whose
 * secret is `totp`, when the account has one), then consent when asked. Returns the URL the server
 * finally sends the browser to (the client's redirect URI).
 */
export async function signIn(agent: Agent, authorizationUrl: string, identifier: string, password: string, { totp }: { totp?: string } = {}): Promise<string> {
  let { res, url } = await agent.follow(authorizationUrl);
  for (let step = 0; step < 4 && url.includes('/interaction/'); step++) {
    const html = await res!.text();
    const _csrf = csrfTokenOf(html);
    const action = html.includes('name="password"') ? 'login' : html.includes('/otp"') ? 'otp' : 'consent';
    if (action === 'otp' && !totp) throw new Error('the account asks for a second factor: pass its TOTP secret');
    const fields: Record<string, string> =
      action === 'login' ? { _csrf, identifier, password } : action === 'otp' ? { _csrf, code: await totpCode(totp!) } : { _csrf };
    const posted = await agent.post(`${url.replace(/\/$/, '')}/${action}`, fields);
    // The right password of an account with a second factor: the code page follows at once.
    if (action === 'login' && posted.status === 200 && totp) {
      res = posted;
      continue;
    }
    if (posted.status !== 303) throw new Error(`${action} answered ${posted.status}`);
    ({ res, url } = await agent.follow(posted.headers.get('location')!));
  }
  return url;
}
