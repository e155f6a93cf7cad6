import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ZodError, z } from 'zod';
import { AUTH_METHODS, GRANT_TYPES, type NewClient } from './clients/clients.js';
import { REQUESTABLE_SCOPES } from './clients/registration.js';
import { migrate } from './db/migrate.js';
import { InputError } from './errors.js';
import { inputErrorMessage } from './i18n.js';
import type { Services } from './services.js';
import { STAFF_ROLES } from './identity/staff.js';
import { seedCitizens, seedRefusal } from './identity/seed.js';
import { backup, restore } from './backup.js';
import type { Config } from './config.js';
import { DataDirBusy } from './db/open.js';
import { describeProblem, readCatalogueCsv } from './clients/catalogue-csv.js';
import type { Catalogue } from './clients/catalogue.js';
import { ACCESS_TOKEN_TTL, ResourceServerError, type ResourceServers, type ResourceServerSettings } from './clients/resource-servers.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const USAGE = `Usage: kediri-id <command>

  serve                      run the server (what npm start runs)
  doctor                     check the configuration, database, migrations, keys, clock and mail
                             relay, and say what is wrong in plain words (exit status 1 if anything is)
  migrate                    apply database migrations
  client create --unit SLUG --name NAME --redirect-uri URI [--redirect-uri URI ...]
      [--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI] [--frontchannel-logout-uri URI]
      [--initiate-login-uri URI]
      [--scope "openid profile ..."] [--auth-method client_secret_basic|client_secret_post|private_key_jwt|none]
      [--jwks-uri URI | --jwks JSON] [--grant-type authorization_code|refresh_token|client_credentials ...]
      [--allow-nik] [--policy-uri URI] [--contact EMAIL]
                             create an active client, checked by the same rules as the developer
                             portal's requests; prints {"client_id", "client_secret"}
  citizen create --nik NIK --name NAME --birthdate YYYY-MM-DD --email EMAIL [--phone PHONE] [--verified]
                             create a citizen (email taken as verified; --verified: identity checked
                             against the KTP-el too); the password is read from standard input; prints {"id"}
  staff grant --email EMAIL --role officer|admin|developer [--unit SLUG]
                             give the account with that email a staff role (MPP counter officer,
                             admin, or unit developer: --unit names the unit)
  admin create --email EMAIL [--nik NIK --name NAME --birthdate YYYY-MM-DD]
                             the first administrator: the account with that email (its password on
                             standard input), or a new verified account with that NIK, name and
                             birth date and the password from standard input; prints {"id"}
  backup --file PATH         the embedded database into PATH (absolute; a new file), a gzipped tar;
                             taken by the running server if there is one. Keep the encryption key
                             (ENCRYPTION_KEY or DATA_DIR/secrets.json) apart: the backup needs it
  restore --file PATH        a backup into an empty DATA_DIR, the server stopped; ENCRYPTION_KEY or
                             the backed-up secrets.json must be in place first (it is checked)
  catalogue import FILE      add the services of a CSV file to the catalogue (/layanan); its header:
                             unit,name,description_id,description_en,kind,client_id,acr (kind online
                             with the client_id of an active client of the unit, or counter with it
                             empty; acr urn:kediri:acr:basic, verified or verified-mfa). Every bad
                             line is reported with its number, and then nothing is imported (exit
                             status 2); prints {"imported"}
  resource create --indicator URI --name NAME [--scope "a b ..."] [--client CLIENT_ID ...] [--token-ttl SECONDS]
                             register a unit's API (an RFC 8707 resource server): a client on its
                             list that sends resource=URI gets a JWT access token for it (aud URI,
                             signed ES256, the scopes asked of those the API accepts), valid
                             ${ACCESS_TOKEN_TTL.min} to ${ACCESS_TOKEN_TTL.max} seconds (default ${ACCESS_TOKEN_TTL.default}); no client may until listed
  resource update --indicator URI [--name NAME] [--scope "a b ..."] [--token-ttl SECONDS]
  resource allow --indicator URI --client CLIENT_ID [--client CLIENT_ID ...]
  resource disallow --indicator URI --client CLIENT_ID [--client CLIENT_ID ...]
                             change it, or the clients that may obtain tokens for it (at once, in
                             every server process); each prints the resource server
  resource list              the resource servers: indicator, name, scopes, clients, token lifetime
  resource delete --indicator URI
                             remove it (tokens already issued expire within their lifetime)
  keys list                  the token-signing keys: kid, alg, state (next, current, previous,
                             retired, revoked) and times; never private material
  keys rotate                publish a new signing key per algorithm now; it signs after
                             KEY_PROMOTION_SECONDS and the old one retires after the longest token
                             lifetime; refused while a rotation is in progress
  keys revoke KID [--end-sessions]
                             an emergency (the key is compromised): the key leaves the JWKS and
                             stops signing at once in every server process, for good; when it was
                             the current key, a key of its algorithm signs in its place at once.
                             --end-sessions also ends every session signed in before the key
                             stopped signing and revokes the refresh tokens issued before then
                             (back-channel logouts are sent). Every unit developer is emailed what
                             their service must do; prints what was done
  dev seed --citizens N      top the seeded test citizens up to N (warga<i>@seed.kediri-id.invalid,
                             all with the password from standard input); only on the embedded
                             database or a PostgreSQL database named for tests ("test" or "bench"
                             in its name); prints {"created", "total", "seconds"}
`;

/**
 * The file a command reads (catalogue import FILE): the CLI process reads it, and its text is the
 * command's input, so that a server the command is forwarded to never opens the operator's files.
 */
export const readsFile = (argv: string[]): string | undefined =>
  argv[0] === 'catalogue' && argv[1] === 'import' && argv.length === 3 ? argv[2] : undefined;

/** The commands that take a password on standard input. */
export const readsPassword = (argv: string[]) => ['citizen create', 'admin create', 'dev seed'].includes(argv.slice(0, 2).join(' '));

const ok = (value: unknown): CommandResult => ({ code: 0, stdout: JSON.stringify(value) + '\n', stderr: '' });
const bad = (message: string): CommandResult => ({ code: 2, stdout: '', stderr: `kediri-id: ${message}\n` });

const clientArgs = z.object({
  unit: z.string({ error: '--unit is required' }),
  name: z.string({ error: '--name is required' }),
  'redirect-uri': z.array(z.string()).default([]),
  'post-logout-redirect-uri': z.array(z.string()).default([]),
  'backchannel-logout-uri': z.string().optional(),
  'frontchannel-logout-uri': z.string().optional(),
  'initiate-login-uri': z.string().optional(),
  'jwks-uri': z.string().optional(),
  jwks: z.string().optional(),
  'policy-uri': z.string().optional(),
  contact: z.string().optional(),
  scope: z.string().default('openid'),
  'auth-method': z.enum(AUTH_METHODS, { error: `--auth-method must be one of ${AUTH_METHODS.join(', ')}` }).default('client_secret_basic'),
  'grant-type': z.array(z.enum(GRANT_TYPES, { error: `--grant-type must be one of ${GRANT_TYPES.join(', ')}` })).default(['authorization_code']),
  'allow-nik': z.boolean().default(false),
});

/** The flag of each field of the registration form (registration.ts RegistrationForm), and of the grant types. */
const FLAG: Record<string, string> = {
  name: 'name',
  redirect_uris: 'redirect-uri',
  post_logout_redirect_uris: 'post-logout-redirect-uri',
  backchannel_logout_uri: 'backchannel-logout-uri',
  frontchannel_logout_uri: 'frontchannel-logout-uri',
  initiate_login_uri: 'initiate-login-uri',
  scopes: 'scope',
  auth_method: 'auth-method',
  client_credentials: 'grant-type',
  grant_types: 'grant-type',
  jwks: 'jwks',
  jwks_uri: 'jwks-uri',
  policy_uri: 'policy-uri',
  contact: 'contact',
};
/** The problems of a client registration (clients.ts createActive), in the operator's words. */
const PROBLEM: Record<string, string> = {
  client_name_invalid: '2 to 100 characters are needed',
  redirect_uri_required: 'at least one is needed for authorization_code',
  too_many_uris: 'at most 10 are allowed',
  uri_invalid: 'not an absolute URL, or it has a fragment, credentials or a wildcard',
  uri_not_https: 'must be https (http only for localhost, 127.0.0.1 and [::1])',
  scope_invalid: `unknown scope (known: openid ${REQUESTABLE_SCOPES.join(' ')})`,
  nik_scope_not_allowed: 'the nik scope and --allow-nik go together (the NIK goes only to clients allowed it)',
  auth_method_invalid: 'client_credentials needs client authentication: client_secret_basic, client_secret_post or private_key_jwt',
  client_credentials_invalid: 'client_credentials with authorization_code needs client authentication (not --auth-method none)',
  grant_types_invalid: 'authorization_code (with refresh_token, and client_credentials for a confidential client), or client_credentials alone',
  refresh_token_needs_offline_access: 'refresh_token needs the offline_access scope',
  jwks_invalid: 'must be a JWKS of 1 to 10 public keys, without private members such as "d"',
  jwks_required: 'private_key_jwt needs --jwks-uri or --jwks',
  email_invalid: 'must be an email address',
};

/** Creates the client; a refusal of its registration names the flag, in the operator's words. */
async function createClient(services: Services, input: NewClient, actor: string): Promise<CommandResult> {
  try {
    return ok(await services.clients.createActive(input, actor));
  } catch (error) {
    const flag = error instanceof InputError && error.field && FLAG[error.field];
    if (!flag) throw error;
    return bad(`--${flag}: ${PROBLEM[error.code] ?? inputErrorMessage(error, 'en')}`);
  }
}

const staffArgs = z.object({
  email: z.string({ error: '--email is required' }),
  role: z.enum(STAFF_ROLES, { error: `--role must be one of ${STAFF_ROLES.join(', ')}` }),
  unit: z.string().optional(),
});

const adminArgs = z.object({
  email: z.string({ error: '--email is required' }),
  nik: z.string().optional(),
  name: z.string().optional(),
  birthdate: z.string().optional(),
});

const citizenArgs = z.object({
  nik: z.string({ error: '--nik is required' }),
  name: z.string({ error: '--name is required' }),
  birthdate: z.string({ error: '--birthdate is required' }),
  email: z.string({ error: '--email is required' }),
  phone: z.string().optional(),
  verified: z.boolean().default(false),
});

const fileArgs = z.object({ file: z.string({ error: '--file is required' }) });

const resourceArgs = z.object({
  indicator: z.string({ error: '--indicator is required' }),
  name: z.string().optional(),
  scope: z.string().optional(),
  client: z.array(z.string()).optional(),
  'token-ttl': z.string().optional(),
});
const RESOURCE_OPTIONS = {
  indicator: { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string' },
  client: { type: 'string', multiple: true },
  'token-ttl': { type: 'string' },
} as const;
/** The flag of each field of a resource server (resource-servers.ts). */
const RESOURCE_FLAG: Record<string, string> = { indicator: 'indicator', name: 'name', scopes: 'scope', clients: 'client', ttl: 'token-ttl' };

/** `resource ...`: the units' APIs that clients ask JWT access tokens for (clients/resource-servers.ts). */
async function resourceCommand(resourceServers: ResourceServers, sub: string | undefined, rest: string[], actor: string): Promise<CommandResult> {
  if (!['create', 'update', 'allow', 'disallow', 'delete', 'list'].includes(String(sub))) return bad(`unknown command: resource ${sub ?? ''}\n${USAGE}`);
  if (sub === 'list') {
    parse(rest, {}, z.object({}));
    return ok(await resourceServers.list());
  }
  const a = parse(rest, RESOURCE_OPTIONS, resourceArgs);
  const scopes = a.scope?.split(/\s+/).filter(Boolean);
  const ttl = a['token-ttl'] === undefined ? undefined : Number(a['token-ttl']);
  try {
    if (sub === 'create') {
      if (a.name === undefined) return bad('--name is required');
      const settings: ResourceServerSettings = {
        indicator: a.indicator, name: a.name, scopes: scopes ?? [], clientIds: a.client ?? [], accessTokenTtl: ttl ?? ACCESS_TOKEN_TTL.default,
      };
      return ok(await resourceServers.create(settings, actor));
    }
    const existing = await resourceServers.findByIndicator(a.indicator);
    if (!existing) return bad(`--indicator: no resource server ${a.indicator} (resource list shows them)`);
    if (sub === 'delete') {
      await resourceServers.delete(existing.id, actor);
      return ok({ deleted: existing.indicator });
    }
    const change = {
      update: (s: ResourceServerSettings) => ({ ...s, name: a.name ?? s.name, scopes: scopes ?? s.scopes, accessTokenTtl: ttl ?? s.accessTokenTtl }),
      allow: (s: ResourceServerSettings) => ({ ...s, clientIds: [...s.clientIds, ...(a.client ?? [])] }),
      disallow: (s: ResourceServerSettings) => ({ ...s, clientIds: s.clientIds.filter((id) => !a.client?.includes(id)) }),
    }[sub as 'update' | 'allow' | 'disallow'];
    if (sub !== 'update' && !a.client?.length) return bad('--client is required');
    return ok(await resourceServers.update(existing.id, change, actor));
  } catch (error) {
    if (!(error instanceof ResourceServerError)) throw error;
    const problems = error.problems.map((problem) => {
      const unknown = problem.code === 'resource_client_unknown' ? ` ${error.unknownClients.join(', ')}` : '';
      return `--${RESOURCE_FLAG[problem.field ?? ''] ?? problem.field}: ${inputErrorMessage(problem, 'en')}${unknown}`;
    });
    return bad(`nothing was changed:\n${problems.join('\n')}`);
  }
}

const seedArgs = z.object({
  citizens: z.coerce.number({ error: '--citizens is required: a number' }).int('--citizens must be a whole number').min(1, '--citizens must be at least 1').max(10_000_000, '--citizens must be at most 10000000'),
});

function parse<T>(args: string[], options: ParseArgsConfig['options'], schema: z.ZodType<T>): T {
  const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
  if (positionals.length > 0) throw new InputError('unexpected_argument', undefined, `unexpected argument: ${positionals[0]}`);
  return schema.parse(values);
}

/** Imports a catalogue file's text, all of it or, when a line is bad, nothing (each problem on a line of its own). */
async function importCatalogue(catalogue: Catalogue, text: string, actor: string): Promise<CommandResult> {
  const read = readCatalogueCsv(text);
  const { imported, problems } = await catalogue.importLines(read.lines, actor, read.problems.length > 0);
  const raw = new Map(read.lines.map((l) => [l.line, l.raw]));
  const all = [...read.problems, ...problems.map((p) => ({ line: p.line, reason: describeProblem(p.error, raw.get(p.line)!) }))].sort((a, b) => a.line - b.line);
  if (all.length === 0) return ok({ imported });
  const report = all.map((p) => `${p.line > 0 ? `line ${p.line}: ` : ''}${p.reason}`).join('\n');
  return bad(`the catalogue was not imported, nothing was added (${all.length} ${all.length === 1 ? 'problem' : 'problems'}):\n${report}`);
}

/** `kediri-id restore --file PATH`: runs before any database is opened (see backup.ts). */
export async function runRestore(config: Config, args: string[]): Promise<CommandResult> {
  return reported(async () => {
    const a = parse(args, { file: { type: 'string' } }, fileArgs);
    return ok(await restore(config, a.file, (file) => readFile(file)));
  });
}

/** Bad arguments and refusals as exit status 2 with a one-line message. */
async function reported(run: () => Promise<CommandResult>): Promise<CommandResult> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof InputError) return bad(`${error.field ? `--${error.field}: ` : ''}${inputErrorMessage(error, 'en')}`);
    if (error instanceof ZodError) return bad(error.issues[0]!.message);
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) return bad((error as Error).message);
    if (error instanceof DataDirBusy) return bad(`${error.message}: stop the server first`);
    throw error;
  }
}

/**
 * One operator command over the given services. Bad arguments give exit status 2 with a one-line
 * message and write nothing. Runs in the CLI process, or in the server that holds the embedded
 * database when the CLI forwards to it. `stdin` is the command's input: a password from standard
 * input, or the text of the file it names (readsFile).
 */
export async function runOperatorCommand(services: Services, argv: string[], stdin: string): Promise<CommandResult> {
  const [command, sub, ...rest] = argv;
  const actor = 'operator-cli';
  return reported(async () => {
    if (command === 'migrate') return ok({ applied: await migrate(services.db) });

    if (command === 'client' && sub === 'create') {
      const a = parse(rest, {
        unit: { type: 'string' },
        name: { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'post-logout-redirect-uri': { type: 'string', multiple: true },
        'backchannel-logout-uri': { type: 'string' },
        'frontchannel-logout-uri': { type: 'string' },
        'initiate-login-uri': { type: 'string' },
        'jwks-uri': { type: 'string' },
        jwks: { type: 'string' },
        'policy-uri': { type: 'string' },
        contact: { type: 'string' },
        scope: { type: 'string' },
        'auth-method': { type: 'string' },
        'grant-type': { type: 'string', multiple: true },
        'allow-nik': { type: 'boolean' },
      }, clientArgs);
      return createClient(services, {
        unit: a.unit,
        name: a.name,
        redirectUris: a['redirect-uri'],
        postLogoutRedirectUris: a['post-logout-redirect-uri'],
        backchannelLogoutUri: a['backchannel-logout-uri'],
        frontchannelLogoutUri: a['frontchannel-logout-uri'],
        initiateLoginUri: a['initiate-login-uri'],
        jwksUri: a['jwks-uri'],
        jwks: a.jwks,
        policyUri: a['policy-uri'],
        contact: a.contact,
        scope: a.scope,
        authMethod: a['auth-method'],
        grantTypes: a['grant-type'],
        allowNik: a['allow-nik'],
      }, actor);
    }

    if (command === 'citizen' && sub === 'create') {
      const a = parse(rest, {
        nik: { type: 'string' },
        name: { type: 'string' },
        birthdate: { type: 'string' },
        email: { type: 'string' },
        phone: { type: 'string' },
        verified: { type: 'boolean' },
      }, citizenArgs);
      const password = stdin.replace(/\r?\n$/, '');
      if (!password) return bad('the password is read from standard input, and it was empty');
      const { verified, ...fields } = a;
      // The operator vouches for the email; --verified also for the identity (KTP-el checked).
      const citizen = await services.citizens.create(
        { ...fields, password },
        { actor, emailVerified: true, ...(verified && { identityVerifiedBy: 'operator' as const }) },
      );
      return ok({ id: citizen.id });
    }

    if (command === 'staff' && sub === 'grant') {
      const a = parse(rest, { email: { type: 'string' }, role: { type: 'string' }, unit: { type: 'string' } }, staffArgs);
      return ok({ id: await services.staff.grant(a.email, a.role, actor, a.unit), role: a.role });
    }

    if (command === 'admin' && sub === 'create') {
      const a = parse(rest, { email: { type: 'string' }, nik: { type: 'string' }, name: { type: 'string' }, birthdate: { type: 'string' } }, adminArgs);
      const password = stdin.replace(/\r?\n$/, '');
      if (!password) return bad('the password is read from standard input, and it was empty');
      const existing = await services.citizens.findByEmail(a.email);
      if (existing) {
        // Whoever runs this must know the account's password: the operator does not take over an account.
        if (!(await services.citizens.authenticate(a.email, password))) return bad('--email: that account exists, and the password on standard input is not its password');
      } else {
        if (!a.nik || !a.name || !a.birthdate) return bad('--email: no account has that email; give --nik, --name and --birthdate to create it');
        await services.citizens.create(
          { nik: a.nik, name: a.name, birthdate: a.birthdate, email: a.email, password },
          { actor, emailVerified: true, identityVerifiedBy: 'operator' },
        );
      }
      return ok({ id: await services.staff.grant(a.email, 'admin', actor), role: 'admin' });
    }

    if (command === 'backup') {
      const a = parse([sub, ...rest].filter((x): x is string => x !== undefined), { file: { type: 'string' } }, fileArgs);
      return ok(await backup(services.db, a.file));
    }

    if (command === 'dev' && sub === 'seed') {
      const a = parse(rest, { citizens: { type: 'string' } }, seedArgs);
      const refusal = seedRefusal(services.config);
      if (refusal) return bad(refusal);
      const password = stdin.replace(/\r?\n$/, '');
      if (!password) return bad('the password is read from standard input, and it was empty');
      return ok(await seedCitizens(services.citizens, services.passwords, a.citizens, password));
    }

    if (command === 'catalogue' && sub === 'import') {
      // The CLI read the file (readsFile): its text comes as the input.
      if (rest.length !== 1) return bad('catalogue import takes one argument: the CSV file');
      return importCatalogue(services.catalogue, stdin, actor);
    }

    if (command === 'resource') return resourceCommand(services.resourceServers, sub, rest, actor);

    if (command === 'keys' && (sub === 'list' || sub === 'rotate')) {
      parse(rest, {}, z.object({}));
      return ok(sub === 'list' ? await services.signingKeys.list() : await services.signingKeys.rotate(actor));
    }

    if (command === 'keys' && sub === 'revoke') {
      const { values, positionals } = parseArgs({ args: rest, options: { 'end-sessions': { type: 'boolean' } }, strict: true, allowPositionals: true });
      if (positionals.length !== 1) return bad('keys revoke takes one argument: the kid of the key to revoke (keys list shows them)');
      return ok(await services.keyRevocation.revoke(positionals[0]!, { actor, endSessions: values['end-sessions'] === true }));
    }

    return bad(`unknown command: ${argv.join(' ') || '(none)'}\n${USAGE}`);
  });
}
