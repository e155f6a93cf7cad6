import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { InputError } from './errors.js';

/** Pages speak Bahasa Indonesia first and English second. */
export const LANGS = ['id', 'en'] as const;
export type Lang = (typeof LANGS)[number];
export const DEFAULT_LANG: Lang = 'id';

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

const LOCALES_DIR = fileURLToPath(new URL('../views/locales/', import.meta.url));

/**
 * views/locales/<lang>/<area>.json holds one area's strings; a key is "<area>.<path.in.file>".
 * Loaded once at start.
 */
function loadStrings(lang: Lang): Map<string, string> {
  const strings = new Map<string, string>();
  const walk = (prefix: string, value: unknown) => {
    if (typeof value === 'string') strings.set(prefix, value);
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(`${prefix}.${k}`, v);
    }
  };
  const dir = `${LOCALES_DIR}${lang}/`;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    walk(file.slice(0, -'.json'.length), JSON.parse(readFileSync(dir + file, 'utf8')));
  }
  return strings;
}

const catalogs = new Map(LANGS.map((lang) => [lang, loadStrings(lang)]));

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

/** A missing key shows as the key itself, so that a gap is visible and never crashes a page. */
export function translator(lang: Lang): Translate {
  const strings = catalogs.get(lang)!;
  const fallback = catalogs.get(DEFAULT_LANG)!;
  return (key, vars) => {
    const text = strings.get(key) ?? fallback.get(key) ?? key;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => String(vars[name] ?? m)) : text;
  };
}

/** Every key of every language, for the test that the catalogs agree. */
export function catalogKeys(lang: Lang): string[] {
  return [...catalogs.get(lang)!.keys()].sort();
}

/** The areas of views/locales whose keys are InputError codes. */
const INPUT_ERROR_AREAS = ['nik', 'citizen', 'profile.error', 'developer.error', 'admin.error', 'admin-upstreams.error', 'admin-resources.error', 'catalogue.error'];

/** The person-facing message of an InputError's code, if the locales have one. */
export function knownInputErrorMessage(error: InputError, lang: Lang): string | undefined {
  const t = translator(lang);
  for (const area of INPUT_ERROR_AREAS) {
    const key = `${area}.${error.code}`;
    const text = t(key);
    if (text !== key) return text;
  }
  return undefined;
}

/** The person-facing message of an InputError, or its technical detail when it has no message. */
export function inputErrorMessage(error: InputError, lang: Lang): string {
  return knownInputErrorMessage(error, lang) ?? error.message;
}

/** Kediri's time zone, WIB (UTC+7 all year round): every time a page or an email shows is in it. */
export const TIME_ZONE = 'Asia/Jakarta';

/** The regional forms of the languages: days and months in Indonesian, and British day-month order. */
const LOCALES: Record<Lang, string> = { id: 'id-ID', en: 'en-GB' };
const FORMATS = new Map(LANGS.map((lang) => [lang, {
  day: new Intl.DateTimeFormat(LOCALES[lang], { timeZone: TIME_ZONE, day: 'numeric', month: 'long', year: 'numeric' }),
  calendarDay: new Intl.DateTimeFormat(LOCALES[lang], { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' }),
  time: new Intl.DateTimeFormat(LOCALES[lang], { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
  timeWithSeconds: new Intl.DateTimeFormat(LOCALES[lang], { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }),
}]));

/**
 * A day as people write it: "23 Mei 1988" / "23 May 1988". A moment (Date) is read in WIB; a
 * calendar date as stored (YYYY-MM-DD: a birth date, a day of the admin's charts) has no time and
 * so never shifts. Anything else shows as it came.
 */
export function formatDay(value: Date | string, lang: Lang): string {
  const formats = FORMATS.get(lang)!;
  if (value instanceof Date) return formats.day.format(value);
  const calendar = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  return calendar ? formats.calendarDay.format(Date.UTC(Number(calendar[1]), Number(calendar[2]) - 1, Number(calendar[3]))) : value;
}

/**
 * A moment with its time and zone: "23 Mei 1988 14.05 WIB" / "23 May 1988 14:05 WIB"; with
 * `seconds` (the audit log) "14.05.09 WIB".
 */
export function formatWhen(value: Date, lang: Lang, { seconds = false } = {}): string {
  const formats = FORMATS.get(lang)!;
  return `${formatDay(value, lang)} ${(seconds ? formats.timeWithSeconds : formats.time).format(value)} WIB`;
}
