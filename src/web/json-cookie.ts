import type { Context } from 'koa';

/**
 * A small JSON value kept in the browser: signed with the app's keys (so not forgeable),
 * httpOnly, SameSite=Lax, Secure over https, with a lifetime. `isValid` checks its shape on read.
 */
export function jsonCookie<T>(name: string, maxAgeMs: number, isValid: (value: unknown) => value is T) {
  return {
    /** Sets the cookie for the whole site, or for the pages under `path` only. */
    set(ctx: Context, value: T, path = '/'): void {
      const encoded = Buffer.from(JSON.stringify(value)).toString('base64url');
      ctx.cookies.set(name, encoded, { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: maxAgeMs, path });
    },
    get(ctx: Context): T | undefined {
      const encoded = ctx.cookies.get(name, { signed: true });
      if (!encoded) return undefined;
      try {
        const value: unknown = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
        return isValid(value) ? value : undefined;
      } catch {
        return undefined;
      }
    },
    clear(ctx: Context): void {
      ctx.cookies.set(name, null, { signed: true });
    },
  };
}

/** For isValid: an object whose listed fields have the given types. */
export function hasFields(value: unknown, fields: Record<string, 'string' | 'number' | 'boolean'>): boolean {
  if (!value || typeof value !== 'object') return false;
  return Object.entries(fields).every(([key, type]) => typeof (value as Record<string, unknown>)[key] === type);
}
