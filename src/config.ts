import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * Brute-force defence (src/identity/throttle.ts). Thresholds, with the reasoning (compare
 * Keycloak's brute-force detection: 30 failures, waits growing by 60 s up to 15 min, counts reset
 * after 12 h; and Logto's sign-in lockout: a handful of failures, then a lock of minutes):
 * - per account, failures are counted over an hour: from the 4th a growing wait (1, 2, 4, ... s,
 *   at most maxDelaySeconds) slows a guesser to a crawl while a person who mistypes barely notices;
 *   the 10th locks the account for 15 minutes and the citizen is emailed. Guessing stays far below
 *   what a common-password list needs (our policy already refuses the 49k most common).
 * - per IP address (an IPv6 client by its /64, see ipKey), generous limits: the MPP counter and
 *   campus networks put many citizens behind one address, so the IP limit only stops floods.
 * Emails that anyone can trigger have their own per-account limit (EMAIL_COOLDOWN_SECONDS).
 */
export interface ThrottlePolicy {
  lockoutFailures: number;
  lockoutMinutes: number;
  delayAfterFailures: number;
  maxDelaySeconds: number;
  /** Attempts per IP address and action in a 15-minute window. */
  ipLimits: { login: number; register: number; reset: number; code: number; message: number };
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  lockoutFailures: 10,
  lockoutMinutes: 15,
  delayAfterFailures: 3,
  maxDelaySeconds: 30,
  ipLimits: { login: 100, register: 30, reset: 20, code: 50, message: 20 },
};

/**
 * Retention (src/retention.ts; UU PDP 27/2022: personal data kept no longer than its purpose needs).
 * - A registration never verified (no contact proven) is deleted after unverifiedDays, told
 *   UNVERIFIED_NOTICE_DAYS before.
 * - An account not signed in to for inactiveWarnDays is warned, and disabled (locked, not
 *   deleted: the citizen reactivates it at the MPP counter) inactiveGraceDays later unless they sign in.
 * - An audit entry loses its IP address and device (user agent) after auditDeviceDays, when
 *   investigating an attack on the account is over, and is deleted after auditDays: what happened
 *   to an account stays answerable for two years (a citizen's complaint, an investigation), who
 *   the device was only as long as an incident takes to surface.
 */
export interface RetentionPolicy {
  unverifiedDays: number;
  inactiveWarnDays: number;
  inactiveGraceDays: number;
  auditDeviceDays: number;
  auditDays: number;
}

/** How many days before its deletion a registration never verified is told. */
export const UNVERIFIED_NOTICE_DAYS = 7;

export const DEFAULT_RETENTION: RetentionPolicy = {
  unverifiedDays: 30,
  inactiveWarnDays: 2 * 365,
  inactiveGraceDays: 30,
  auditDeviceDays: 90,
  auditDays: 2 * 365,
};

/**
 * Outgoing requests (back-channel logout, a client's jwks_uri) go where a client's metadata
 * says: SSRF protection (src/oidc/outbound.ts) keeps them off the city's private network and this
 * machine, except for the hosts and networks an administrator approved in OUTBOUND_ALLOW. Public
 * addresses are allowed.
 */
export interface OutboundAllow {
  /** Host names (lower case), allowed whatever they resolve to. */
  hosts: string[];
  /** Networks as address/prefix; a bare address in OUTBOUND_ALLOW is one of /32 or /128. */
  networks: string[];
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** OUTBOUND_ALLOW: comma-separated host names, addresses and networks (CIDR); throws naming a bad entry. */
export function parseOutboundAllow(value: string | undefined): OutboundAllow {
  const allow: OutboundAllow = { hosts: [], networks: [] };
  for (const entry of (value ?? '').split(',').map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const version = isIP(address);
    if (version && rest.length === 0) {
      const bits = prefix === undefined ? (version === 4 ? 32 : 128) : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
      if (!(bits >= 0 && bits <= (version === 4 ? 32 : 128))) throw new Error(`"${entry}" has a bad network prefix`);
      allow.networks.push(`${address}/${bits}`);
    } else if (prefix === undefined && HOSTNAME.test(entry.replace(/\.$/, ''))) {
      allow.hosts.push(entry.replace(/\.$/, ''));
    } else {
      throw new Error(`"${entry}" is neither a host name, an IP address nor a network (address/prefix)`);
    }
  }
  return allow;
}

/**
 * The gateways that carry codes and notices to phones (src/messaging/). Each one configured is
 * offered to citizens; with none (outside production only) messages go to the log.
 */
export interface MessageGateways {
  /** The WhatsApp Business Cloud API (src/messaging/whatsapp-cloud.ts). */
  whatsapp?: { apiUrl: string; phoneNumberId: string; accessToken: string; codeTemplate: string; noticeTemplate: string };
  /** A generic SMS HTTP gateway (src/messaging/sms-http.ts). */
  sms?: { url: string; token: string };
}

const GATEWAY_NAMES = ['whatsapp', 'sms'] as const;

/** MESSAGE_GATEWAY: "whatsapp", "sms" or both, comma-separated; throws naming a bad entry. */
function parseMessageGateway(value: string | undefined): Array<(typeof GATEWAY_NAMES)[number]> {
  if (value === undefined) return [];
  const names = value.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean);
  const usage = 'use whatsapp, sms or both, comma-separated (e.g. whatsapp,sms)';
  if (names.length === 0) throw new Error(`names no gateway: ${usage}`);
  const unknown = names.find((name) => !(GATEWAY_NAMES as readonly string[]).includes(name));
  if (unknown !== undefined) throw new Error(`"${unknown}" is not a gateway: ${usage}`);
  return GATEWAY_NAMES.filter((name) => names.includes(name));
}

/**
 * Signing in with a national identity provider (src/federation/): the rules an upstream's settings
 * follow, whether UPSTREAM_* give them (below) or an administrator does (src/federation/upstreams.ts).
 */
export const UPSTREAM_AUTH_METHODS = ['private_key_jwt', 'client_secret_basic', 'client_secret_post'] as const;
export type UpstreamAuthMethod = (typeof UPSTREAM_AUTH_METHODS)[number];
/** In our URLs: /masuk-dengan/<slug>/kembali is the redirect URI registered upstream. */
export const UPSTREAM_SLUG = /^[a-z0-9][a-z0-9-]{1,30}$/;
/** A claim's name at the upstream. */
export const UPSTREAM_CLAIM = /^[A-Za-z0-9_.:-]{1,100}$/;
/** An acr value of the upstream's, and how many a setting lists at most. */
export const UPSTREAM_ACR = /^[\x21-\x7e]{1,200}$/;
export const UPSTREAM_ACR_MAX = 20;
/** The account's details an upstream's claims may carry (the NIK's claim is set apart). */
export const UPSTREAM_CLAIM_NAMES = ['name', 'birthdate', 'email', 'phone'] as const;

/** The defaults a new upstream starts from: INApas as its documentation describes it. */
export const DEFAULT_UPSTREAM = {
  scopes: 'openid profile email phone nik',
  nikClaim: 'nik',
  claimMap: { name: 'name', birthdate: 'birthdate', email: 'email', phone: 'phone_number' },
} as const;

export const isLoopback = (hostname: string) => hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';

/**
 * An upstream's issuer: an https URL without query, fragment or credentials; http only on this
 * machine (127.0.0.1, localhost) and only outside production: development and tests.
 */
export function isUpstreamIssuer(value: string, production: boolean): boolean {
  const url = URL.parse(value);
  if (!url || url.search || url.hash || url.username || url.password) return false;
  return url.protocol === 'https:' || (!production && url.protocol === 'http:' && isLoopback(url.hostname));
}

/**
 * The upstream UPSTREAM_* describe, in the shape src/federation/upstreams.ts takes (it checks
 * it again and stores it at every start; an administrator cannot change it).
 */
export interface UpstreamEnvironment {
  slug: string;
  label: string;
  issuer: string;
  clientId: string;
  authMethod: UpstreamAuthMethod;
  /** Empty for private_key_jwt. */
  clientSecret: string;
  scopes: string;
  nikClaim: string;
  claimMap: Record<(typeof UPSTREAM_CLAIM_NAMES)[number], string>;
  /** Space-separated acr values. */
  verifiedAcr: string;
  mfaAcr: string;
  enabled: boolean;
}

/** UPSTREAM_CLAIMS: "name=nama_lengkap,birthdate=tanggal_lahir", any of the four; the others keep their default. */
function parseUpstreamClaims(value: string | undefined): UpstreamEnvironment['claimMap'] {
  const claims: UpstreamEnvironment['claimMap'] = { ...DEFAULT_UPSTREAM.claimMap };
  for (const entry of (value ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [name = '', claim = '', ...rest] = entry.split('=').map((part) => part.trim());
    if (!(UPSTREAM_CLAIM_NAMES as readonly string[]).includes(name) || rest.length > 0) {
      throw new Error(`"${entry}" is not one of ${UPSTREAM_CLAIM_NAMES.map((n) => `${n}=CLAIM`).join(', ')}`);
    }
    if (!UPSTREAM_CLAIM.test(claim)) throw new Error(`"${entry}": a claim name is letters, digits and _ . : - (at most 100)`);
    claims[name as keyof typeof claims] = claim;
  }
  return claims;
}

/** Space- or comma-separated acr values, as one space-separated string. */
const acrList = z
  .string()
  .max(1000)
  .transform((v) => v.split(/[\s,]+/).filter(Boolean).join(' '))
  .refine((v) => {
    const values = v.split(' ').filter(Boolean);
    return values.length <= UPSTREAM_ACR_MAX && values.every((acr) => UPSTREAM_ACR.test(acr));
  }, `must be at most ${UPSTREAM_ACR_MAX} acr values (printable ASCII) separated by spaces or commas`);

/** Thrown for a bad configuration value; main prints the message alone and exits with status 2. */
export class ConfigError extends Error {}

/** The Mal Pelayanan Publik of Kota Kediri (MPP_ADDRESS, MPP_HOURS). */
export const DEFAULT_MPP = {
  address: 'Mal Pelayanan Publik Kota Kediri, Dhoho Plaza lantai 2, Jl. Dhoho, Kota Kediri',
  hours: 'Senin–Jumat 08.00–15.00',
};

const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const secretKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 random bytes in base64url (43 characters); make one with: openssl rand -base64 32 | tr "+/" "-_" | tr -d "="');

/**
 * An http(s) URL without credentials in it: a user and password there would be written wherever
 * an error quotes the URL (logs, the outboxes' last_error); tokens and secrets have settings of their own.
 */
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
  .refine((url) => !URL.canParse(url) || (!new URL(url).username && !new URL(url).password), 'must not contain a user or password (use the token setting)');
/** Sent in an Authorization header. */
const headerToken = z.string().regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
/** WhatsApp message template names: lower-case letters, digits and underscores. */
const templateName = z.string().regex(/^[a-z0-9_]{1,512}$/, 'must be a WhatsApp template name (lower-case letters, digits and _)');

/** OWASP's minimum for argon2id (m=19 MiB, t=2, p=1): production and development never go below it. */
const ARGON2_MINIMUM = { memoryKib: 19456, timeCost: 2 };

const schema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  /** Prometheus metrics (GET /metrics) on this port, apart from the public one; unset: none. */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** The address METRICS_PORT listens on (0.0.0.0 in a container, for the scraper to reach it). */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Server processes sharing PORT: a number, or "auto" for one per CPU. Above 1 needs PostgreSQL. */
  WORKERS: z.union([z.literal('auto').transform(() => availableParallelism()), z.coerce.number().int().min(1).max(64)]).default(1),
  ISSUER: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  /** Connections each process keeps to PostgreSQL at most. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  /**
   * false: statements go unnamed (parsed and planned at every call), as a pooler in transaction
   * mode that cannot keep prepared statements (PgBouncer before 1.21) needs.
   */
  DATABASE_PREPARED_STATEMENTS: boolean.optional(),
  /** The one connection that listens for changes (LISTEN needs a session): DATABASE_URL unless set. */
  DATABASE_LISTEN_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://').optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  NODE_ENV: z.enum(['production', 'development', 'test']).default('development'),
  /** Comma-separated; the first signs cookies, the others are still accepted (rotation). */
  COOKIE_KEYS: z.string().min(1).optional(),
  /** The key that encrypts signing keys, client secrets and NIKs at rest. */
  ENCRYPTION_KEY: secretKey.optional(),
  TRUST_PROXY: boolean.default(false),
  /** At least ARGON2_MINIMUM outside NODE_ENV=test, where tests may hash cheaply. */
  ARGON2_MEMORY_KIB: z.coerce.number().int().min(1024).default(ARGON2_MINIMUM.memoryKib),
  ARGON2_TIME_COST: z.coerce.number().int().min(1).default(ARGON2_MINIMUM.timeCost),
  ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  /** Password hashes computed at once by one process (each holds ARGON2_MEMORY_KIB); others wait. */
  ARGON2_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(availableParallelism()),
  /** Seconds during which a rotated refresh token may be used again (concurrent refreshes). */
  REFRESH_TOKEN_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(60).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
  /** smtp:// or smtps:// URL of the mail relay; unset: messages go to the log (not in production). */
  SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must start with smtp:// or smtps://').optional(),
  MAIL_FROM: z.string().min(3).default('Kediri ID <no-reply@localhost>'),
  /** The /dev/mail and /dev/pesan outbox pages; on by default only for the embedded database outside production. */
  DEV_MAIL: boolean.optional(),
  /** WhatsApp and SMS gateways (MessageGateways above); unset: messages go to the log (not in production). */
  MESSAGE_GATEWAY: z.string().optional(),
  WHATSAPP_API_URL: httpUrl.default('https://graph.facebook.com/v21.0'),
  WHATSAPP_PHONE_NUMBER_ID: z.string().regex(/^\d{1,32}$/, 'must be the digits of the WhatsApp Business phone number ID').optional(),
  WHATSAPP_ACCESS_TOKEN: headerToken.optional(),
  WHATSAPP_CODE_TEMPLATE: templateName.default('kediri_id_kode'),
  WHATSAPP_NOTICE_TEMPLATE: templateName.default('kediri_id_pemberitahuan'),
  SMS_GATEWAY_URL: httpUrl.optional(),
  SMS_GATEWAY_TOKEN: headerToken.optional(),
  /** The population-data (Dukcapil-style) verifier; all three or none. */
  POPULATION_VERIFIER_URL: httpUrl.optional(),
  POPULATION_VERIFIER_CLIENT_ID: z.string().regex(/^[^:]+$/, 'must not contain ":"').optional(),
  POPULATION_VERIFIER_CLIENT_SECRET: z.string().optional(),
  /** Brute-force defence (DEFAULT_THROTTLE above explains the defaults). */
  LOCKOUT_FAILURES: z.coerce.number().int().min(3).max(100).default(DEFAULT_THROTTLE.lockoutFailures),
  LOCKOUT_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(DEFAULT_THROTTLE.lockoutMinutes),
  LOGIN_MAX_DELAY_SECONDS: z.coerce.number().int().min(0).max(300).default(DEFAULT_THROTTLE.maxDelaySeconds),
  IP_LIMIT_LOGIN: z.coerce.number().int().min(1).default(DEFAULT_THROTTLE.ipLimits.login),
  IP_LIMIT_REGISTER: z.coerce.number().int().min(1).default(DEFAULT_THROTTLE.ipLimits.register),
  IP_LIMIT_RESET: z.coerce.number().int().min(1).default(DEFAULT_THROTTLE.ipLimits.reset),
  IP_LIMIT_CODE: z.coerce.number().int().min(1).default(DEFAULT_THROTTLE.ipLimits.code),
  /** WhatsApp and SMS codes asked for per IP address (an IPv6 client by its /64) in 15 minutes. */
  IP_LIMIT_MESSAGE: z.coerce.number().int().min(1).default(DEFAULT_THROTTLE.ipLimits.message),
  /** WhatsApp and SMS messages the whole instance sends a day at most (each costs money). */
  MESSAGE_DAILY_BUDGET: z.coerce.number().int().min(1).default(5000),
  /** Calling codes of other countries whose mobile numbers are accepted, comma-separated (e.g. "+60,+65"); unset: Indonesian numbers only. */
  PHONE_FOREIGN_PREFIXES: z.string().regex(/^\s*\+[1-9]\d{0,3}(\s*,\s*\+[1-9]\d{0,3})*\s*$/, 'must be calling codes such as +60,+65').optional(),
  /** Signing in with a code sent to the phone, without a password, for services that ask for the basic level only. */
  PHONE_CODE_SIGN_IN: boolean.default(true),
  /** Seconds between publishing a new signing key and signing with it (JWKS caches commonly hold a day). */
  KEY_PROMOTION_SECONDS: z.coerce.number().int().min(1).max(30 * 24 * 60 * 60).default(24 * 60 * 60),
  /** Private hosts and networks that outgoing requests may reach (src/oidc/outbound.ts); unset: public addresses only. */
  OUTBOUND_ALLOW: z.string().optional(),
  /** Signing in with a national identity provider (INApas, IKD): UPSTREAM_ISSUER turns the first one on. */
  UPSTREAM_ISSUER: z.string().trim().max(500).optional(),
  UPSTREAM_SLUG: z.string().trim().regex(UPSTREAM_SLUG, 'must be 2 to 31 lower-case letters, digits and -, starting with a letter or digit').default('inapas'),
  UPSTREAM_LABEL: z.string().trim().min(2).max(40).default('INApas'),
  UPSTREAM_CLIENT_ID: z.string().trim().min(1).max(200).optional(),
  UPSTREAM_CLIENT_SECRET: z.string().max(500).optional(),
  UPSTREAM_AUTH_METHOD: z.enum(UPSTREAM_AUTH_METHODS).optional(),
  UPSTREAM_SCOPES: z
    .string()
    .max(300)
    .transform((v) => v.split(/\s+/).filter(Boolean).join(' '))
    .refine((v) => /^[\x21-\x7e ]+$/.test(v) && v.split(' ').includes('openid'), 'must be space-separated scopes, openid among them')
    .default(DEFAULT_UPSTREAM.scopes),
  UPSTREAM_NIK_CLAIM: z.string().trim().regex(UPSTREAM_CLAIM, 'must be a claim name (letters, digits and _ . : -)').default(DEFAULT_UPSTREAM.nikClaim),
  UPSTREAM_CLAIMS: z.string().optional(),
  UPSTREAM_VERIFIED_ACR: acrList.default(''),
  UPSTREAM_MFA_ACR: acrList.default(''),
  /** How long a request to any upstream (discovery, token, JWKS) may take. */
  UPSTREAM_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(10),
  RETENTION_UNVERIFIED_DAYS: z.coerce.number().int().min(UNVERIFIED_NOTICE_DAYS + 1).max(365).default(DEFAULT_RETENTION.unverifiedDays),
  RETENTION_INACTIVE_YEARS: z.coerce.number().int().min(1).max(10).default(DEFAULT_RETENTION.inactiveWarnDays / 365),
  RETENTION_INACTIVE_GRACE_DAYS: z.coerce.number().int().min(7).max(365).default(DEFAULT_RETENTION.inactiveGraceDays),
  RETENTION_AUDIT_DEVICE_DAYS: z.coerce.number().int().min(7).max(3650).default(DEFAULT_RETENTION.auditDeviceDays),
  RETENTION_AUDIT_DAYS: z.coerce.number().int().min(30).max(3650).default(DEFAULT_RETENTION.auditDays),
  /** The Mal Pelayanan Publik where identities are verified in person, as the home page shows it. */
  MPP_ADDRESS: z.string().trim().min(5).max(300).default(DEFAULT_MPP.address),
  MPP_HOURS: z.string().trim().min(3).max(300).default(DEFAULT_MPP.hours),
});

export interface Config {
  port: number;
  issuer: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  /** Where the connection that listens for changes goes: DATABASE_LISTEN_URL, else DATABASE_URL. */
  databaseListenUrl: string | undefined;
  /** Whether statements with parameters are prepared once per connection (DATABASE_PREPARED_STATEMENTS). */
  databasePreparedStatements: boolean;
  workers: number;
  metrics: { host: string; port: number } | undefined;
  dataDir: string;
  production: boolean;
  cookieKeys: string[] | undefined;
  encryptionKey: string | undefined;
  trustProxy: boolean;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  argon2Concurrency: number;
  refreshTokenReuseGraceSeconds: number;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  smtpUrl: string | undefined;
  mailFrom: string;
  /** Also turns on /dev/pesan, the message outbox page. */
  devMail: boolean;
  messageGateways: MessageGateways;
  populationVerifier: { url: string; clientId: string; clientSecret: string } | undefined;
  throttle: ThrottlePolicy;
  keyPromotionSeconds: number;
  outboundAllow: OutboundAllow;
  /** Phone numbers and the codes sent to them (src/identity/phone.ts, phone-codes.ts). */
  phone: { foreignPrefixes: string[]; codeSignIn: boolean; dailyBudget: number };
  /** The MPP's address and opening hours (the home page; what to bring is in the locale files). */
  mpp: { address: string; hours: string };
  retention: RetentionPolicy;
  /** The upstream UPSTREAM_* describe, or none. */
  upstream: UpstreamEnvironment | undefined;
  /** How long a request to an upstream may take, for every upstream. */
  upstreamTimeoutSeconds: number;
}

/** The gateways MESSAGE_GATEWAY names, each with its settings; throws a ConfigError for a missing one. */
function messageGatewaysOf(e: z.infer<typeof schema>): MessageGateways {
  let names;
  try {
    names = parseMessageGateway(e.MESSAGE_GATEWAY);
  } catch (error) {
    throw new ConfigError(`Configuration error: MESSAGE_GATEWAY ${(error as Error).message}`);
  }
  const gateways: MessageGateways = {};
  if (names.includes('whatsapp')) {
    if (!e.WHATSAPP_PHONE_NUMBER_ID || !e.WHATSAPP_ACCESS_TOKEN) {
      throw new ConfigError('Configuration error: MESSAGE_GATEWAY names whatsapp: WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN are required');
    }
    gateways.whatsapp = {
      apiUrl: e.WHATSAPP_API_URL.replace(/\/$/, ''),
      phoneNumberId: e.WHATSAPP_PHONE_NUMBER_ID,
      accessToken: e.WHATSAPP_ACCESS_TOKEN,
      codeTemplate: e.WHATSAPP_CODE_TEMPLATE,
      noticeTemplate: e.WHATSAPP_NOTICE_TEMPLATE,
    };
  }
  if (names.includes('sms')) {
    if (!e.SMS_GATEWAY_URL || !e.SMS_GATEWAY_TOKEN) {
      throw new ConfigError('Configuration error: MESSAGE_GATEWAY names sms: SMS_GATEWAY_URL and SMS_GATEWAY_TOKEN are required');
    }
    gateways.sms = { url: e.SMS_GATEWAY_URL, token: e.SMS_GATEWAY_TOKEN };
  }
  return gateways;
}

/** The upstream UPSTREAM_* describe (UPSTREAM_ISSUER turns it on); throws a ConfigError naming the variable at fault. */
function upstreamOf(e: z.infer<typeof schema>, production: boolean): UpstreamEnvironment | undefined {
  if (!e.UPSTREAM_ISSUER) {
    const stray = (['UPSTREAM_CLIENT_ID', 'UPSTREAM_CLIENT_SECRET', 'UPSTREAM_AUTH_METHOD', 'UPSTREAM_CLAIMS'] as const).find((name) => e[name] !== undefined);
    if (stray) throw new ConfigError(`Configuration error: ${stray} is set but UPSTREAM_ISSUER is not (UPSTREAM_ISSUER turns the upstream on)`);
    return undefined;
  }
  if (!isUpstreamIssuer(e.UPSTREAM_ISSUER, production)) {
    throw new ConfigError(`Configuration error: UPSTREAM_ISSUER must be an https:// URL without query, fragment or credentials${production ? '' : ' (http:// only on this machine)'}`);
  }
  if (!e.UPSTREAM_CLIENT_ID) throw new ConfigError('Configuration error: UPSTREAM_CLIENT_ID is required with UPSTREAM_ISSUER');
  const secret = e.UPSTREAM_CLIENT_SECRET ?? '';
  const authMethod = e.UPSTREAM_AUTH_METHOD ?? (secret ? 'client_secret_basic' : 'private_key_jwt');
  if (authMethod !== 'private_key_jwt' && !secret) {
    throw new ConfigError(`Configuration error: UPSTREAM_CLIENT_SECRET is required with UPSTREAM_AUTH_METHOD=${authMethod}`);
  }
  if (authMethod === 'private_key_jwt' && secret) {
    throw new ConfigError('Configuration error: UPSTREAM_CLIENT_SECRET is not used with UPSTREAM_AUTH_METHOD=private_key_jwt (Kediri ID signs with its own key): unset one of them');
  }
  let claimMap;
  try {
    claimMap = parseUpstreamClaims(e.UPSTREAM_CLAIMS);
  } catch (error) {
    throw new ConfigError(`Configuration error: UPSTREAM_CLAIMS ${(error as Error).message}`);
  }
  return {
    slug: e.UPSTREAM_SLUG,
    label: e.UPSTREAM_LABEL,
    issuer: e.UPSTREAM_ISSUER,
    clientId: e.UPSTREAM_CLIENT_ID,
    authMethod,
    clientSecret: authMethod === 'private_key_jwt' ? '' : secret,
    scopes: e.UPSTREAM_SCOPES,
    nikClaim: e.UPSTREAM_NIK_CLAIM,
    claimMap,
    verifiedAcr: e.UPSTREAM_VERIFIED_ACR,
    mfaAcr: e.UPSTREAM_MFA_ACR,
    enabled: true,
  };
}

/** Reads and validates the environment; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Configuration error: ${issue.path.join('.')} ${issue.message}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const cookieKeys = e.COOKIE_KEYS?.split(',').map((k) => k.trim());
  if (cookieKeys?.some((k) => k.length < 32)) {
    throw new ConfigError('Configuration error: COOKIE_KEYS each key must be at least 32 characters');
  }
  if (production && e.DATABASE_URL && !e.ENCRYPTION_KEY) {
    throw new ConfigError('Configuration error: ENCRYPTION_KEY is required in production with DATABASE_URL');
  }
  if (e.WORKERS > 1 && !e.DATABASE_URL) {
    throw new ConfigError('Configuration error: WORKERS above 1 needs DATABASE_URL (the embedded database belongs to one process)');
  }
  if (!e.DATABASE_URL && (e.DATABASE_LISTEN_URL || e.DATABASE_PREPARED_STATEMENTS !== undefined)) {
    throw new ConfigError('Configuration error: DATABASE_LISTEN_URL and DATABASE_PREPARED_STATEMENTS need DATABASE_URL (they are PostgreSQL settings)');
  }
  if (e.DATABASE_PREPARED_STATEMENTS === false && !e.DATABASE_LISTEN_URL) {
    throw new ConfigError(
      'Configuration error: DATABASE_PREPARED_STATEMENTS=false is for a pooler in transaction mode, where LISTEN does not work: set DATABASE_LISTEN_URL to a direct (or session-mode) connection to the same database',
    );
  }
  if (production && e.DATABASE_URL && !e.ISSUER) {
    throw new ConfigError('Configuration error: ISSUER is required in production with DATABASE_URL');
  }
  const issuer = (e.ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  if (production && !issuer.startsWith('https://')) {
    throw new ConfigError('Configuration error: ISSUER must be an https:// URL in production');
  }
  const verifier = [e.POPULATION_VERIFIER_URL, e.POPULATION_VERIFIER_CLIENT_ID, e.POPULATION_VERIFIER_CLIENT_SECRET];
  if (verifier.some(Boolean) && !verifier.every(Boolean)) {
    throw new ConfigError(
      'Configuration error: POPULATION_VERIFIER_URL, POPULATION_VERIFIER_CLIENT_ID and POPULATION_VERIFIER_CLIENT_SECRET go together',
    );
  }
  if (production && !e.SMTP_URL) {
    throw new ConfigError('Configuration error: SMTP_URL is required in production (verification and reset emails)');
  }
  if (production && e.DEV_MAIL) {
    throw new ConfigError('Configuration error: DEV_MAIL must not be on in production (it shows every email)');
  }
  if (production && !e.TRUST_PROXY) {
    // The server speaks plain HTTP; in production TLS ends at a proxy, whose headers tell Koa
    // that the request was https (without them secure cookies cannot be set).
    throw new ConfigError('Configuration error: TRUST_PROXY must be true in production (TLS ends at a reverse proxy in front)');
  }
  const messageGateways = messageGatewaysOf(e);
  if (production && !messageGateways.whatsapp && !messageGateways.sms) {
    throw new ConfigError('Configuration error: MESSAGE_GATEWAY is required in production (codes and notices by WhatsApp or SMS; without it they go to the log)');
  }
  if (e.NODE_ENV !== 'test' && e.ARGON2_MEMORY_KIB < ARGON2_MINIMUM.memoryKib) {
    throw new ConfigError(`Configuration error: ARGON2_MEMORY_KIB must be at least ${ARGON2_MINIMUM.memoryKib}`);
  }
  if (e.NODE_ENV !== 'test' && e.ARGON2_TIME_COST < ARGON2_MINIMUM.timeCost) {
    throw new ConfigError(`Configuration error: ARGON2_TIME_COST must be at least ${ARGON2_MINIMUM.timeCost}`);
  }
  let outboundAllow: OutboundAllow;
  try {
    outboundAllow = parseOutboundAllow(e.OUTBOUND_ALLOW);
  } catch (error) {
    throw new ConfigError(`Configuration error: OUTBOUND_ALLOW ${(error as Error).message}`);
  }
  if (e.RETENTION_AUDIT_DEVICE_DAYS > e.RETENTION_AUDIT_DAYS) {
    throw new ConfigError('Configuration error: RETENTION_AUDIT_DEVICE_DAYS must not exceed RETENTION_AUDIT_DAYS (an entry loses its IP address and device before it is deleted)');
  }
  const upstream = upstreamOf(e, production);
  return {
    port: e.PORT,
    workers: e.WORKERS,
    metrics: e.METRICS_PORT === undefined ? undefined : { host: e.METRICS_HOST, port: e.METRICS_PORT },
    issuer,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseListenUrl: e.DATABASE_LISTEN_URL ?? e.DATABASE_URL,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS ?? true,
    dataDir: e.DATA_DIR,
    production,
    cookieKeys,
    encryptionKey: e.ENCRYPTION_KEY,
    trustProxy: e.TRUST_PROXY,
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    argon2Concurrency: e.ARGON2_CONCURRENCY,
    refreshTokenReuseGraceSeconds: e.REFRESH_TOKEN_REUSE_GRACE_SECONDS,
    logLevel: e.LOG_LEVEL,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    devMail: e.DEV_MAIL ?? (!e.DATABASE_URL && !production),
    messageGateways,
    throttle: {
      lockoutFailures: e.LOCKOUT_FAILURES,
      lockoutMinutes: e.LOCKOUT_MINUTES,
      delayAfterFailures: DEFAULT_THROTTLE.delayAfterFailures,
      maxDelaySeconds: e.LOGIN_MAX_DELAY_SECONDS,
      ipLimits: { login: e.IP_LIMIT_LOGIN, register: e.IP_LIMIT_REGISTER, reset: e.IP_LIMIT_RESET, code: e.IP_LIMIT_CODE, message: e.IP_LIMIT_MESSAGE },
    },
    keyPromotionSeconds: e.KEY_PROMOTION_SECONDS,
    outboundAllow,
    phone: {
      foreignPrefixes: (e.PHONE_FOREIGN_PREFIXES ?? '').split(',').map((p) => p.trim()).filter(Boolean),
      codeSignIn: e.PHONE_CODE_SIGN_IN,
      dailyBudget: e.MESSAGE_DAILY_BUDGET,
    },
    mpp: { address: e.MPP_ADDRESS, hours: e.MPP_HOURS },
    retention: {
      unverifiedDays: e.RETENTION_UNVERIFIED_DAYS,
      inactiveWarnDays: e.RETENTION_INACTIVE_YEARS * 365,
      inactiveGraceDays: e.RETENTION_INACTIVE_GRACE_DAYS,
      auditDeviceDays: e.RETENTION_AUDIT_DEVICE_DAYS,
      auditDays: e.RETENTION_AUDIT_DAYS,
    },
    upstream,
    upstreamTimeoutSeconds: e.UPSTREAM_TIMEOUT_SECONDS,
    populationVerifier: e.POPULATION_VERIFIER_URL
      ? { url: e.POPULATION_VERIFIER_URL, clientId: e.POPULATION_VERIFIER_CLIENT_ID!, clientSecret: e.POPULATION_VERIFIER_CLIENT_SECRET! }
      : undefined,
  };
}
