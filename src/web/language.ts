import type { Context, Next } from 'koa';
import { DEFAULT_LANG, isLang } from '../i18n.js';

const COOKIE = 'kid.lang';

/**
 * The page language: ?lang= (remembered in a cookie), else the cookie, else Bahasa Indonesia.
 * ctx.state.langChosen tells a route whether the person chose, so that a relying party's
 * ui_locales may apply when they did not. A request with neither a query nor the cookie (a
 * program's) parses nothing.
 */
export function language(ctx: Context, next: Next) {
  const asked = ctx.querystring ? ctx.query.lang : undefined;
  if (isLang(asked)) {
    ctx.cookies.set(COOKIE, asked, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, maxAge: 365 * 24 * 3600 * 1000 });
    ctx.state.lang = asked;
    ctx.state.langChosen = true;
  } else {
    const remembered = ctx.get('Cookie').includes(COOKIE) ? ctx.cookies.get(COOKIE, { signed: false }) : undefined;
    ctx.state.lang = isLang(remembered) ? remembered : DEFAULT_LANG;
    ctx.state.langChosen = isLang(remembered);
  }
  return next();
}
