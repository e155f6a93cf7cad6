import type { Context } from 'koa';

const COOKIE = 'kid.verify';

/** What the browser that registered (or tried to sign in unverified) needs for the code form. */
export interface PendingVerification {
  /** The account. */
  c: string;
  /** The verification token whose code the form accepts. */
  t: string;
  /** The masked email the code went to. */
  e: string;
  /** Where to continue after verifying: an interaction page, or ''. */
  r: string;
}

/** Signed (so not forgeable), httpOnly, a day long: the same lifetime as the code. */
export function setPendingVerification(ctx: Context, pending: PendingVerification): void {
  const value = Buffer.from(JSON.stringify(pending)).toString('base64url');
  ctx.cookies.set(COOKIE, value, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 24 * 3600 * 1000 });
}

export function pendingVerification(ctx: Context): PendingVerification | undefined {
  const value = ctx.cookies.get(COOKIE, { signed: true });
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<PendingVerification>;
    const ok = [parsed.c, parsed.t, parsed.e, parsed.r].every((v) => typeof v === 'string');
    return ok ? (parsed as PendingVerification) : undefined;
  } catch {
    return undefined;
  }
}

export function clearPendingVerification(ctx: Context): void {
  ctx.cookies.set(COOKIE, null, { signed: true });
}

/** Only an interaction page of this server is a place to continue to (no open redirect). */
export function continuePath(value: unknown): string {
  return typeof value === 'string' && /^\/interaction\/[A-Za-z0-9_-]{1,64}$/.test(value) ? value : '';
}
