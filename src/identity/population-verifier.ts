/**
 * Population-data verification: does the population register (Dukcapil) hold this NIK with this
 * name, birth place and birth date? A match lets an account reach the `verified` assurance level
 * (README.md, "Assurance levels"). The verifier is pluggable; the HTTP connector below speaks the
 * wire format described here, and the city's integrator puts an adapter in front of the real
 * service that speaks it (the format follows the Dukcapil data-verification web service's shape).
 *
 * WIRE FORMAT
 *
 * Request: one POST to the configured URL (POPULATION_VERIFIER_URL), no query string.
 *   Authorization: Basic base64(POPULATION_VERIFIER_CLIENT_ID ":" POPULATION_VERIFIER_CLIENT_SECRET)
 *   Content-Type: application/json
 *   Accept: application/json
 *   {
 *     "NIK":       "3571014101900001",   16 digits
 *     "NAMA_LGKP": "SITI AMINAH",        full name, trimmed and uppercased
 *     "TMPT_LHR":  "KEDIRI",             birth place, trimmed and uppercased
 *     "TGL_LHR":   "01-01-1990"          birth date, DD-MM-YYYY
 *   }
 * Comparing names and places ignoring case and spacing (or with a similarity threshold) is the
 * service's job: the connector sends the values as the citizen gave them.
 *
 * Responses (HTTP 200, JSON; only the first element of "content" is read):
 *   checked:    { "content": [ { "NIK": "Sesuai", "NAMA_LGKP": "Sesuai", "TMPT_LHR": "Tidak Sesuai",
 *                                "TGL_LHR": "Sesuai" } ] }
 *               Each of the four fields is "Sesuai" (matches) or "Tidak Sesuai" (does not), either
 *               optionally followed by a score, e.g. "Sesuai (100)". All four "Sesuai" -> match;
 *               any "Tidak Sesuai" -> no_match.
 *   not found:  { "content": [ { "RESPON": "Data Tidak Ditemukan" } ] }       (any RESPON containing
 *               "tidak ditemukan") -> not_found
 *   quota:      { "content": [ { "RESPON": "Kuota Akses Hari Ini Telah Habis" } ] }  (any RESPON
 *               containing "kuota"), or HTTP 429 with any body -> quota_exhausted
 * Anything else -> unavailable: another status (401/403 for wrong credentials, 5xx), a redirect,
 * a body that is not this JSON, a missing field or an unknown value, a network error, or no
 * complete answer within the timeout (default 10 s).
 *
 * The connector never throws for the service's trouble and never logs; the NIK goes only into
 * the request body, never into a URL, an error or the optional onTrouble diagnostics.
 */
import type { Db } from '../db/db.js';
import type { Sealer } from '../secrets.js';

export type PopulationResult = 'match' | 'no_match' | 'not_found' | 'quota_exhausted' | 'unavailable';

export interface PopulationQuery {
  nik: string;
  name: string;
  birthPlace: string;
  /** YYYY-MM-DD */
  birthdate: string;
}

export interface PopulationVerifier {
  verify(query: PopulationQuery): Promise<PopulationResult>;
}

export interface HttpPopulationVerifierOptions {
  url: string;
  clientId: string;
  clientSecret: string;
  /** The whole exchange, answer body included; default 10 000. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * Told why an answer was 'unavailable' or 'quota_exhausted' (e.g. "HTTP 401", "timeout"), for the
   * operators' logs. The reason never contains query data.
   */
  onTrouble?: (reason: string) => void;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const FIELDS = ['NIK', 'NAMA_LGKP', 'TMPT_LHR', 'TGL_LHR'] as const;
const SESUAI = /^sesuai(\s*\(\s*\d{1,3}(\.\d+)?\s*\))?$/i;
const TIDAK_SESUAI = /^tidak\s+sesuai(\s*\(\s*\d{1,3}(\.\d+)?\s*\))?$/i;
const BIRTHDATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The query as it is sent and compared: trimmed, names and places uppercased. */
function normalize(query: PopulationQuery): PopulationQuery {
  const nik = query.nik.trim();
  // Errors name the field, never its value: the NIK must not reach a log through a message.
  if (!/^\d{16}$/.test(nik)) throw new Error('population query: the NIK must be 16 digits');
  if (!BIRTHDATE.test(query.birthdate)) throw new Error('population query: the birth date must be YYYY-MM-DD');
  const name = query.name.trim().toUpperCase();
  const birthPlace = query.birthPlace.trim().toUpperCase();
  if (!name) throw new Error('population query: the name is empty');
  if (!birthPlace) throw new Error('population query: the birth place is empty');
  return { nik, name, birthPlace, birthdate: query.birthdate };
}

/** The answer in a 200 body, or undefined when it is not one the wire format knows. */
function interpret(body: unknown): PopulationResult | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const content = (body as { content?: unknown }).content;
  if (!Array.isArray(content)) return undefined;
  const first: unknown = content[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const answer = first as Record<string, unknown>;
  if (answer.RESPON !== undefined) {
    if (typeof answer.RESPON !== 'string') return undefined;
    if (/kuota/i.test(answer.RESPON)) return 'quota_exhausted';
    if (/tidak\s+ditemukan/i.test(answer.RESPON)) return 'not_found';
    return undefined;
  }
  let allMatch = true;
  for (const field of FIELDS) {
    const value = answer[field];
    if (typeof value !== 'string') return undefined;
    if (TIDAK_SESUAI.test(value.trim())) allMatch = false;
    else if (!SESUAI.test(value.trim())) return undefined;
  }
  return allMatch ? 'match' : 'no_match';
}

/**
 * HTTP connector: POSTs JSON to the configured URL with HTTP Basic credentials and maps the
 * service's answers to PopulationResult (wire format above). Timeouts, 5xx and network errors give
 * 'unavailable'; 429 or a quota answer gives 'quota_exhausted'. Never throws for service trouble
 * (only for a malformed query, a programming error), never logs the NIK.
 */
export function httpPopulationVerifier(options: HttpPopulationVerifierOptions): PopulationVerifier {
  const url = new URL(options.url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('population verifier URL must be http(s)');
  if (options.clientId.includes(':')) throw new Error('population verifier client id must not contain ":"');
  const authorization = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`, 'utf8').toString('base64')}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch = options.fetch ?? fetch;
  const trouble = (reason: string, result: 'unavailable' | 'quota_exhausted'): PopulationResult => {
    try {
      options.onTrouble?.(reason);
    } catch {
      // A failing diagnostics hook must not turn into a thrown verify().
    }
    return result;
  };

  return {
    async verify(query) {
      const q = normalize(query);
      const [, year, month, day] = BIRTHDATE.exec(q.birthdate)!;
      const body = JSON.stringify({ NIK: q.nik, NAMA_LGKP: q.name, TMPT_LHR: q.birthPlace, TGL_LHR: `${day}-${month}-${year}` });
      const signal = AbortSignal.timeout(timeoutMs);
      let status: number;
      let text: string;
      try {
        const response = await doFetch(url, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json', accept: 'application/json' },
          body,
          redirect: 'error',
          signal,
        });
        status = response.status;
        // Read the body under the same timeout: a service that sends headers and then stalls is down.
        text = await response.text();
      } catch (error) {
        const name = (error as { name?: unknown } | null)?.name;
        return trouble(signal.aborted || name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network error', 'unavailable');
      }
      if (status === 429) return trouble('HTTP 429', 'quota_exhausted');
      if (status !== 200) return trouble(`HTTP ${status}`, 'unavailable');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return trouble('answer is not JSON', 'unavailable');
      }
      const result = interpret(parsed);
      if (result === undefined) return trouble('unknown answer', 'unavailable');
      if (result === 'quota_exhausted') return trouble('quota answer', 'quota_exhausted');
      return result;
    },
  };
}

/**
 * Wraps a verifier with the permanent cache of matches in population_checks, keyed by the NIK's
 * keyed hash (the same as citizens.nik_hash). A NIK that matched is not sent again for the same
 * name, birth place and birth date (compared trimmed, uppercased, spaces collapsed); other data for
 * it is sent again, so a cached match never vouches for data that was not checked. Only matches
 * are cached; every other result goes to the inner verifier again next time.
 */
export function cachedPopulationVerifier(db: Db, sealer: Sealer, inner: PopulationVerifier, source: string): PopulationVerifier {
  const collapse = (s: string) => s.replace(/\s+/g, ' ');
  return {
    async verify(query) {
      const q = normalize(query);
      const nikHash = sealer.keyedHash('nik', q.nik);
      const queryHash = sealer.keyedHash(
        'population-query',
        JSON.stringify([q.nik, collapse(q.name), collapse(q.birthPlace), q.birthdate]),
      );
      const cached = await db.query('select 1 from population_checks where nik_hash = $1 and query_hash = $2', [
        nikHash,
        queryHash,
      ]);
      if (cached.rowCount > 0) return 'match';
      const result = await inner.verify(query);
      if (result === 'match') {
        await db.query(
          `insert into population_checks (nik_hash, query_hash, result, source) values ($1, $2, 'match', $3)
           on conflict (nik_hash) do update
             set query_hash = excluded.query_hash, checked_at = now(), source = excluded.source`,
          [nikHash, queryHash, source],
        );
      }
      return result;
    },
  };
}
