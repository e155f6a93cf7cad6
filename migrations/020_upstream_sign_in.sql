-- Signing in with a national identity provider (INApas, IKD): upstream OpenID Connect providers
-- that Kediri ID is a relying party of (src/federation/). Owned by src/federation/upstreams.ts
-- (upstream_providers) and src/federation/upstream-accounts.ts (the other tables).

create table upstream_providers (
  -- In our URLs: /masuk-dengan/<slug>/kembali is the redirect URI registered upstream.
  slug text primary key check (slug ~ '^[a-z0-9][a-z0-9-]{1,30}$'),
  label text not null check (char_length(label) between 2 and 40),
  logo bytea,
  logo_type text check (logo_type in ('image/png', 'image/jpeg')),
  issuer text not null,
  client_id text not null,
  auth_method text not null check (auth_method in ('client_secret_basic', 'client_secret_post', 'private_key_jwt')),
  -- Sealed (the instance key): the client secret, or none for private_key_jwt.
  client_secret_enc text,
  -- Our own EC P-256 key pair for private_key_jwt, made with the provider: the private JWK sealed,
  -- the public one published at /masuk-dengan/<slug>/jwks.json for the upstream to register.
  private_jwk_enc text not null,
  public_jwk jsonb not null,
  scopes text not null,
  -- Which claim carries the NIK, and which carry the name, birth date, email and phone.
  nik_claim text not null,
  claim_map jsonb not null,
  -- The upstream acr values that prove the identity (the account becomes verified), and those
  -- that also prove a second factor (verified-mfa).
  verified_acr text[] not null default '{}',
  mfa_acr text[] not null default '{}',
  enabled boolean not null default true,
  -- 'environment': set by UPSTREAM_* at every start, not editable in /admin.
  source text not null default 'admin' check (source in ('admin', 'environment')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((auth_method = 'private_key_jwt') = (client_secret_enc is null))
);

-- A citizen's account linked to their identity at an upstream (its `sub`): one per upstream.
create table upstream_links (
  provider_slug text not null references upstream_providers (slug) on delete cascade,
  subject text not null,
  citizen_id uuid not null references citizens (id) on delete cascade,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  primary key (provider_slug, subject),
  unique (citizen_id, provider_slug)
);

-- One trip to an upstream and back: found by its state (keyed hash), bound to the browser that
-- left (keyed hash of a cookie's value) and to the interaction it continues; used once. After the
-- callback it holds the upstream's identity (sealed: the NIK is in it) until the step uses it.
create table upstream_requests (
  state_hash text primary key,
  provider_slug text not null references upstream_providers (slug) on delete cascade,
  interaction_uid text not null,
  browser_hash text not null,
  checks_enc text not null,
  identity_enc text,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  returned_at timestamptz,
  used_at timestamptz
);
create index upstream_requests_expiry_idx on upstream_requests (expires_at);

-- The upstream session behind a login here: its back-channel logout ends our sessions that began
-- with it (the login's time tells which of the account's sessions they are).
create table upstream_sessions (
  provider_slug text not null references upstream_providers (slug) on delete cascade,
  subject text not null,
  sid text,
  citizen_id uuid not null references citizens (id) on delete cascade,
  login_ts bigint not null,
  expires_at timestamptz not null
);
create index upstream_sessions_subject_idx on upstream_sessions (provider_slug, subject);
create index upstream_sessions_expiry_idx on upstream_sessions (expires_at);

-- Logout tokens already honoured (their jti), so that a replayed one is refused.
create table upstream_logout_tokens (
  provider_slug text not null references upstream_providers (slug) on delete cascade,
  jti text not null,
  expires_at timestamptz not null,
  primary key (provider_slug, jti)
);

-- An account made by an upstream sign-in has no password until the citizen sets one, and may
-- have no contact: the upstream is its way in.
alter table citizens alter column password_hash drop not null;
alter table citizens drop constraint citizens_contact_check;
alter table citizens add constraint citizens_contact_check check (email is not null or phone is not null or password_hash is null);

-- A verification by an upstream is recorded like the counter's: the method, and which upstream.
alter table citizens drop constraint citizens_verification_method_check;
alter table citizens add constraint citizens_verification_method_check
  check (verification_method in ('population_data', 'counter', 'operator', 'upstream'));
alter table citizens add column verified_upstream text;

-- A code sent to the account's verified phone proves the citizen holds it, to link an upstream identity.
alter table phone_codes drop constraint phone_codes_purpose_check;
alter table phone_codes add constraint phone_codes_purpose_check
  check (purpose in ('verify_phone', 'sign_in', 'reset_password', 'change_phone', 'link_upstream'));

-- ... or a code sent to its verified email (account_tokens, code only).
alter table account_tokens drop constraint account_tokens_purpose_check;
alter table account_tokens add constraint account_tokens_purpose_check
  check (purpose in ('verify_email', 'reset_password', 'change_email', 'link_upstream'));
