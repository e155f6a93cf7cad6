-- Units, clients, citizens, the oidc-provider models, signing keys, instance secrets, audit log.

create table units (
  slug text primary key check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  name text not null,
  logo_url text,
  created_at timestamptz not null default now()
);

insert into units (slug, name) values
  ('dpmptsp', 'DPMPTSP'),
  ('dpupr', 'DPUPR'),
  ('dispendukcapil', 'Dispendukcapil'),
  ('bppkad', 'BPPKAD'),
  ('diskominfo', 'Diskominfo'),
  ('bank-jatim', 'Bank Jatim'),
  ('kantor-imigrasi', 'Kantor Imigrasi'),
  ('samsat', 'Kantor Bersama Samsat'),
  ('kemenag', 'Kantor Kemenag'),
  ('atr-bpn', 'Kantor ATR/BPN');

-- A relying party. metadata holds the oidc-provider client metadata (without the secret);
-- the secret is encrypted at rest. Only status 'active' clients are served to the provider.
create table clients (
  client_id text primary key,
  unit_slug text not null references units (slug),
  name text not null,
  status text not null check (status in ('pending', 'active', 'rejected', 'suspended')),
  metadata jsonb not null,
  client_secret_enc text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index clients_unit_idx on clients (unit_slug);

-- One row per citizen. The NIK is stored encrypted and found through a keyed hash.
create table citizens (
  id uuid primary key,
  nik_hash text not null unique,
  nik_enc text not null,
  name text not null,
  birthdate date not null,
  gender text not null check (gender in ('male', 'female')),
  email text not null,
  email_verified boolean not null default false,
  phone text,
  password_hash text not null,
  status text not null default 'active' check (status in ('active', 'locked')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index citizens_email_idx on citizens (lower(email));

-- Every oidc-provider model (sessions, codes, tokens, grants, interactions, ...).
create table oidc_payloads (
  model text not null,
  id text not null,
  payload jsonb not null,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  -- A rotated refresh token may be used once more within the grace window (concurrent refresh).
  grace_used boolean not null default false,
  primary key (model, id)
);
create index oidc_payloads_grant_idx on oidc_payloads (grant_id) where grant_id is not null;
create index oidc_payloads_uid_idx on oidc_payloads (uid) where uid is not null;
create index oidc_payloads_user_code_idx on oidc_payloads (user_code) where user_code is not null;
create index oidc_payloads_expiry_idx on oidc_payloads (expires_at) where expires_at is not null;

-- Token signing keys; the private JWK is encrypted with the instance encryption key.
create table signing_keys (
  kid text primary key,
  alg text not null,
  private_jwk_enc text not null,
  status text not null default 'active' check (status in ('active', 'retired')),
  created_at timestamptz not null default now()
);

-- Secrets generated on first start and shared by every process (e.g. cookie keys), encrypted.
create table instance_secrets (
  name text primary key,
  value_enc text not null,
  created_at timestamptz not null default now()
);

create table audit_events (
  id bigserial primary key,
  at timestamptz not null default now(),
  type text not null,
  actor text,
  citizen_id uuid,
  client_id text,
  ip text,
  details jsonb not null default '{}'
);
create index audit_events_at_idx on audit_events (at);
create index audit_events_type_idx on audit_events (type, at);
