import type { Context } from 'koa';
import { Eta } from 'eta';
import { fileURLToPath } from 'node:url';
import { LANGS, formatDay, formatWhen, translator, type Lang } from '../i18n.js';

const eta = new Eta({
  views: fileURLToPath(new URL('../../views/', import.meta.url)),
  autoEscape: true,
  cache: true,
});

/** What every template receives besides its own data. */
export interface PageBase {
  t: ReturnType<typeof translator>;
  lang: Lang;
  /** A day in the page's language, in WIB: "23 Mei 1988" (formatDay). */
  day: (value: Date | string) => string;
  /** A moment in the page's language with its time in WIB: "23 Mei 1988 14.05 WIB" (formatWhen). */
  when: (value: Date, options?: { seconds?: boolean }) => string;
  /** The other language and a link to this page in it. */
  switchLang: { lang: Lang; href: string };
  /** The CSRF token for the hidden `_csrf` field of every POST form. */
  csrf: string;
}

export function pageBase(ctx: Context): PageBase {
  const lang: Lang = ctx.state.lang;
  const other = LANGS.find((l) => l !== lang)!;
  const query = new URLSearchParams(ctx.querystring);
  query.set('lang', other);
  return {
    t: translator(lang),
    lang,
    day: (value) => formatDay(value, lang),
    when: (value, options) => formatWhen(value, lang, options),
    // A page re-rendered after a POST links to its GET address (ctx.state.pagePath). Leading
    // slashes fold into one, so that a path like //evil.example never becomes another site's link.
    switchLang: { lang: other, href: `/${String(ctx.state.pagePath ?? ctx.path).replace(/^[/\\]+/, '')}?${query}` },
    csrf: ctx.state.csrf?.token() ?? '',
  };
}

/** Renders views/<view>.eta as the response body (HTML). */
export function render(ctx: Context, view: string, data: Record<string, unknown> = {}, status = 200): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = eta.render(view, { ...pageBase(ctx), ...data });
}
