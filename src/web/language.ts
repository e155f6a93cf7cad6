import type { Context, Next } from 'koa';
import { DEFAULT_LANG, LANGS, isLang, type Lang } from '../i18n.js';

const COOKIE = 'kid.lang';

/**
 * The language of ours an Accept-Language header prefers: the one with the highest q (a language
 * with a region, en-US, counts as its language). Bahasa Indonesia on a tie, when the header names
 * neither, or when it cannot be read.
 */
export function acceptedLanguage(header: string): Lang {
  const quality = new Map<Lang, number>();
  for (const entry of header.split(',')) {
    const [range = '', ...params] = entry.split(';').map((part) => part.trim().toLowerCase());
    const lang = range.split('-')[0];
    const q = Number(params.find((param) => param.startsWith('q='))?.slice(2) ?? 1);
    if (isLang(lang) && q >= 0 && q <= 1) quality.set(lang, Math.max(quality.get(lang) ?? 0, q));
  }
  let best: Lang = DEFAULT_LANG;
  for (const lang of LANGS) if ((quality.get(lang) ?? 0) > (quality.get(best) ?? 0)) best = lang;
  return best;
}

/**
 * The page language: ?lang= (remembered in a cookie), else the cookie, else the browser's
 * Accept-Language, else Bahasa Indonesia. ctx.state.langChosen tells a route whether the person
 * chose (the link or the cookie; a browser's header is no choice), so that a relying party's
 * ui_locales may apply when they did not. A page not in a chosen language varies with
 * Accept-Language, and says so.
 */
export async function language(ctx: Context, next: Next) {
  const asked = ctx.querystring ? ctx.query.lang : undefined;
  if (isLang(asked)) {
    ctx.cookies.set(COOKIE, asked, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, maxAge: 365 * 24 * 3600 * 1000 });
    ctx.state.lang = asked;
    ctx.state.langChosen = true;
  } else {
    const remembered = ctx.get('Cookie').includes(COOKIE) ? ctx.cookies.get(COOKIE, { signed: false }) : undefined;
    ctx.state.langChosen = isLang(remembered);
    ctx.state.lang = isLang(remembered) ? remembered : acceptedLanguage(ctx.get('Accept-Language'));
  }
  await next();
  if (!ctx.state.langChosen && ctx.response.is('html')) ctx.vary('Accept-Language');
}
