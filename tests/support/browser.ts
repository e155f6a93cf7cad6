/**
 * Browser tests drive Debian's Chromium through playwright-core (never a downloaded browser).
 * Where /usr/bin/chromium is missing the browser tests are skipped with a note, unless
 * REQUIRE_BROWSER=1 (CI), where a missing browser is a failure.
 */
import { describe, expect, test } from '@jest/globals';
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Whether Debian's Chromium is installed and executable here. */
export function browserAvailable(): boolean {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function browserRequired(): boolean {
  return process.env.REQUIRE_BROWSER === '1';
}

/**
 * describe() for a block of browser tests. Without a browser: skipped with a console note, or,
 * when REQUIRE_BROWSER=1, replaced by one test that fails and says why.
 */
export function describeWithBrowser(name: string, body: () => void): void {
  if (browserAvailable()) {
    describe(name, body);
    return;
  }
  if (browserRequired()) {
    describe(name, () => {
      // REQUIRE_BROWSER=1: a missing browser fails (install Debian's chromium package), never skips.
      test('Chromium is available', () => {
        expect({ chromium: CHROMIUM, installedAndExecutable: browserAvailable() }).toEqual({ chromium: CHROMIUM, installedAndExecutable: true });
      });
    });
    return;
  }
  console.warn(`Skipping browser tests "${name}": ${CHROMIUM} is not installed (set REQUIRE_BROWSER=1 to make this a failure).`);
  describe.skip(name, body);
}

/** Headless Debian Chromium. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
}

export interface PageProblem {
  kind: 'console' | 'pageerror' | 'csp';
  text: string;
  url: string;
}

/** What the pages of one browser context said: console messages, uncaught errors, CSP violations. */
export interface Watcher {
  /** Every console message, any level, in order. */
  readonly messages: { type: string; text: string; url: string }[];
  /** Console errors, uncaught page errors and CSP violations; a clean journey has none. */
  problems(): PageProblem[];
  /** CSP violations only (from the securitypolicyviolation event and from Chromium's console). */
  cspViolations(): PageProblem[];
}

// Chromium words CSP console errors as "Refused to ..." or, for form-action, "Sending form data to
// ... violates the following Content Security Policy directive".
const CSP_TEXT = /Content Security Policy|Refused to /i;

/**
 * A new context (its own cookies) whose pages are watched. The securitypolicyviolation listener is
 * installed through the DevTools protocol, so the page's own CSP does not block it; it also sees
 * form-action violations on the redirect that follows a form post. The browser is set up in
 * Indonesian (id-ID: its Accept-Language picks the pages' language) unless `options` say otherwise.
 */
export async function newWatchedContext(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<{ context: BrowserContext; watcher: Watcher }> {
  const context = await browser.newContext({ locale: 'id-ID', ...options });
  const messages: Watcher['messages'] = [];
  const errors: PageProblem[] = [];
  const violations: PageProblem[] = [];
  const documents = new Set<string>();

  context.on('request', (request) => {
    if (request.isNavigationRequest()) documents.add(request.url());
  });
  context.on('console', (message) => {
    messages.push({ type: message.type(), text: message.text(), url: message.location().url });
  });
  context.on('weberror', (error) => {
    errors.push({ kind: 'pageerror', text: String(error.error()?.stack ?? error.error()), url: error.page()?.url() ?? '' });
  });
  await context.exposeBinding('__kediriReportCsp', (source, report: { directive: string; blocked: string }) => {
    violations.push({ kind: 'csp', text: `${report.directive} blocked ${report.blocked}`, url: source.frame.url() });
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { __kediriReportCsp?: (r: unknown) => void }).__kediriReportCsp;
      report?.({ directive: event.effectiveDirective, blocked: event.blockedURI });
    });
  });

  const consoleProblems = (): PageProblem[] =>
    messages
      .filter((m) => (m.type === 'error' && !isOwnStatusOrFavicon(m)) || CSP_TEXT.exec(m.text) !== null)
      .map((m) => ({ kind: 'console', text: m.text, url: m.url }));
  // Chromium logs "Failed to load resource" for any 4xx/5xx, including the page itself (a login
  // form answered 401 after a wrong password) and its own favicon request. A page's status is the
  // test's to assert; the favicon is not the page's. A failing stylesheet or script still counts.
  const isOwnStatusOrFavicon = (m: { text: string; url: string }) =>
    m.text.startsWith('Failed to load resource: the server responded with a status of') &&
    (documents.has(m.url) || URL.parse(m.url)?.pathname === '/favicon.ico');

  return {
    context,
    watcher: {
      messages,
      problems: () => [...consoleProblems(), ...errors, ...violations],
      cspViolations: () => [...consoleProblems().filter((p) => CSP_TEXT.exec(p.text) !== null), ...violations],
    },
  };
}

/** Waits until the browser is at the relying party's callback; on a timeout, says what the pages reported. */
export async function landAtCallback(page: Page, watcher: Watcher, rpOrigin: string): Promise<URL> {
  try {
    await page.waitForURL((url) => url.origin === rpOrigin && url.pathname === '/callback', { timeout: 10_000 });
  } catch (error) {
    throw new Error(
      `the browser did not reach the relying party's callback; it is at ${page.url()}.\n` +
        `Page problems: ${JSON.stringify(watcher.problems(), null, 2)}\n${String(error)}`,
    );
  }
  return new URL(page.url());
}

/** The ids in aria-describedby, resolved to their text: what a screen reader reads after the label. */
export function describedBy(field: Locator): Promise<string> {
  return field.evaluate((input) =>
    (input.getAttribute('aria-describedby') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent?.replace(/\s+/g, ' ').trim() ?? `#${id} missing`)
      .join(' | '),
  );
}
