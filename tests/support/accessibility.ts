/**
 * Accessibility checks of a page in Chromium: axe-core's WCAG 2.1 A and AA rules, and a walk
 * through the page with the Tab key. axe is put into each page through the DevTools protocol (an
 * init script), which the page's Content Security Policy does not govern: the pages stay as
 * strict as production serves them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults, RunOptions } from 'axe-core';
import type { BrowserContext, Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const AXE_OPTIONS: RunOptions = {
  runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  resultTypes: ['violations'],
};

/** A rule broken on a page, with the elements that break it (CSS selectors). */
export interface Violation {
  rule: string;
  impact: string;
  help: string;
  targets: string[];
}

/**
 * Puts axe-core into every page the context opens from now on, before the page's own scripts run
 * (measured cheaper than evaluating its 650 KB into each page afterwards).
 */
export async function withAxe(context: BrowserContext): Promise<void> {
  await context.addInitScript(AXE_SOURCE);
}

/** The serious and critical violations of WCAG 2.1 A/AA rules on the page as it is now (its context went through withAxe). */
export async function seriousViolations(page: Page): Promise<Violation[]> {
  const violations = await page.evaluate(async (options) => {
    const { axe } = window as unknown as { axe?: { run(context: Document, options: RunOptions): Promise<AxeResults> } };
    if (!axe) throw new Error(`axe-core is not in ${location.href}: open the page in a context prepared with withAxe()`);
    return (await axe.run(document, options)).violations;
  }, AXE_OPTIONS);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ rule: v.id, impact: v.impact!, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
}

/** What went wrong at one stop of the Tab walk, or an element the walk never reached. */
export interface KeyboardProblem {
  element: string;
  problem: 'not reached' | 'out of order' | 'no visible focus indicator' | 'unexpected focus stop';
}

/** One arrival of focus, as the page's focusin listener recorded it. */
interface FocusStop {
  index: number;
  name: string;
  indicated: boolean;
}

/**
 * Presses Tab from the top of the page until focus has visited every element that should take
 * it, and checks that it visits them in document order and that each focused element looks
 * different (a visible outline, or a box-shadow or background that the unfocused element lacks).
 *
 * The elements: visible links, buttons, fields, selects, text areas and summaries that are not
 * taken out of the tab order. A group of radio buttons is one tab stop (its checked button, or its
 * first), as browsers make it; the arrow keys move within the group. A field of several parts (a
 * date: day, month, year) takes several presses and counts as one stop.
 */
export async function keyboardProblems(page: Page): Promise<KeyboardProblem[]> {
  // Every arrival of focus is recorded in the page as it happens (a focusin listener), so that the
  // presses need no round trip each to look at the page.
  const stops = await page.evaluate(() => {
    const candidates = [...document.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea, summary, [tabindex]')].filter(
      (el) =>
        el.tabIndex >= 0 &&
        !(el as HTMLInputElement).disabled &&
        (el as HTMLInputElement).type !== 'hidden' &&
        el.closest('[inert]') === null &&
        el.checkVisibility({ visibilityProperty: true }),
    );
    const isRadio = (el: Element): el is HTMLInputElement => el instanceof HTMLInputElement && el.type === 'radio' && el.name !== '';
    const tabStops = candidates.filter((el) => {
      if (!isRadio(el)) return true;
      const group = candidates.filter((c): c is HTMLInputElement => isRadio(c) && c.name === el.name && c.form === el.form);
      return el.checked || (!group.some((r) => r.checked) && group[0] === el);
    });
    const look = (el: Element) => {
      const s = getComputedStyle(el);
      return { outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth, outlineColor: s.outlineColor, boxShadow: s.boxShadow, background: s.backgroundColor };
    };
    type Look = ReturnType<typeof look>;
    const transparent = (color: string) => /^(transparent|rgba\(.*,\s*0\))$/.test(color);
    const outlineShows = (l: Look) => l.outlineStyle !== 'none' && parseFloat(l.outlineWidth) > 0 && !transparent(l.outlineColor);
    const name = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.getAttribute('name') ? `[name=${el.getAttribute('name')}]` : ''}` +
      ` "${(el.getAttribute('aria-label') || (el as HTMLInputElement).labels?.[0]?.textContent || el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 40)}"`;
    const unfocused = tabStops.map(look);
    const log: FocusStop[] = [];
    document.addEventListener('focusin', (event) => {
      const focused = event.target as Element;
      const index = tabStops.indexOf(focused as HTMLElement);
      const before = unfocused[index];
      const now = look(focused);
      const indicated =
        before !== undefined &&
        ((outlineShows(now) && !(outlineShows(before) && now.outlineColor === before.outlineColor && now.outlineWidth === before.outlineWidth)) ||
          now.boxShadow !== before.boxShadow ||
          now.background !== before.background);
      log.push({ index, name: name(focused), indicated });
    });
    (window as unknown as { __focusLog: typeof log }).__focusLog = log;
    return tabStops.map(name);
  });

  if (stops.length === 0) throw new Error(`nothing on ${page.url()} takes focus: not even the skip link`);
  const readLog = () => page.evaluate(() => (window as unknown as { __focusLog: FocusStop[] }).__focusLog);
  const problems: KeyboardProblem[] = [];
  const visited = new Set<number>();
  let previous = -1;
  let read = 0;
  // Enough presses for every stop, a few parts per field, and a stray stop or two to report.
  for (let presses = 0; visited.size < stops.length && presses < 3 * stops.length + 5; ) {
    const batch = stops.length - visited.size;
    for (let i = 0; i < batch; i++) await page.keyboard.press('Tab');
    presses += batch;
    const log = await readLog();
    for (const stop of log.slice(read)) {
      if (visited.size === stops.length) break; // past the last stop: focus leaves the page, or starts over
      if (stop.index === previous && stop.index >= 0) continue; // the next part of the same field
      if (stop.index < 0) {
        problems.push({ element: stop.name, problem: 'unexpected focus stop' });
        continue;
      }
      if (stop.index !== previous + 1) problems.push({ element: stop.name, problem: 'out of order' });
      if (!stop.indicated) problems.push({ element: stop.name, problem: 'no visible focus indicator' });
      visited.add(stop.index);
      previous = stop.index;
    }
    read = log.length;
  }
  const missed = stops.filter((_, i) => !visited.has(i));
  return [...problems, ...missed.map((element) => ({ element, problem: 'not reached' as const }))];
}

/** How far a page is wider than its viewport, and the elements that make it so. */
export interface Overflow {
  /** CSS pixels past the viewport's right edge (0: the page fits). */
  by: number;
  /** The outermost elements whose right edge is past the viewport's, furthest first (at most 5). */
  widest: string[];
}

/**
 * How far the page is wider than the viewport (document.documentElement.scrollWidth against the
 * viewport's width): on a phone, what is past the right edge is what a person does not see (a
 * button of a table's last column, say). What a scroll container (overflow-x auto or scroll)
 * holds does not widen the page, and is not listed.
 */
export async function horizontalOverflow(page: Page): Promise<Overflow> {
  return page.evaluate(() => {
    const viewport = document.documentElement.clientWidth;
    const by = Math.max(0, document.documentElement.scrollWidth - viewport);
    if (by === 0) return { by, widest: [] };
    const inScrollContainer = (el: Element) => {
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        if (/auto|scroll/.test(getComputedStyle(a).overflowX)) return true;
      }
      return false;
    };
    const sticking = [...document.body.querySelectorAll('*')]
      .map((el) => ({ el, right: el.getBoundingClientRect().right + window.scrollX }))
      .filter(({ el, right }) => right > viewport + 0.5 && !inScrollContainer(el));
    const outermost = sticking.filter(({ el }) => !sticking.some((other) => other.el !== el && other.el.contains(el)));
    const name = (el: Element) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${[...el.classList].map((c) => `.${c}`).join('')}`;
    return {
      by,
      widest: outermost.sort((a, b) => b.right - a.right).slice(0, 5).map(({ el, right }) => `${name(el)} (right edge at ${Math.round(right)} px)`),
    };
  });
}
