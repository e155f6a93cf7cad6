import type { Context, Next } from 'koa';
import { DEFAULT_LANG, isLang } from '../i18n.js';

const COOKIE = 'kid.lang';

/**
 * The page language: ?lang= (remembered in a cookie), else the cookie, else Bahasa Indonesia.
 * ctx.state.langChosen tells a route whether the person chose, so that a relying party's
 * ui_locales may apply when they did not.
 */
export async function language(ctx: Context, next: Next) {
  const asked = ctx.query.lang;
  if (isLang(asked)) {
    ctx.cookies.set(COOKIE, asked, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, maxAge: 365 * 24 * 3600 * 1000 });
    ctx.state.lang = asked;
    ctx.state.langChosen = true;
  } else {
    const remembered = ctx.cookies.get(COOKIE, { signed: false });
    ctx.state.lang = isLang(remembered) ? remembered : DEFAULT_LANG;
    ctx.state.langChosen = isLang(remembered);
  }
  await next();
}
