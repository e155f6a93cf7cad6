-- Citizen identity: assurance, single-use account tokens (email verification, password reset),
-- the email outbox, and staff roles.

alter table citizens
  add column assurance text not null default 'basic' check (assurance in ('basic', 'verified')),
  add column verified_at timestamptz,
  add column verified_by uuid references citizens (id),
  add column verification_method text check (verification_method in ('population_data', 'counter', 'operator')),
  -- OIDC address claim members: street_address (with RT/RW and kelurahan), locality (kecamatan),
  -- region (kota and province), postal_code, country.
  add column address jsonb,
  -- Sessions that began before this (e.g. a staff session) end when the password changes.
  add column password_changed_at timestamptz not null default now();

-- Whether an administrator allowed the client the nik scope (the NIK is sensitive personal data).
alter table clients add column allow_nik boolean not null default false;

-- Single-use secrets sent by email: only their hashes are stored.
create table account_tokens (
  id uuid primary key,
  citizen_id uuid not null references citizens (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'reset_password')),
  token_hash text not null unique,
  code_hash text,
  attempts int not null default 0,
  expires_at timestamptz not null,
  consumed_at timestamptz,
  created_at timestamptz not null default now()
);
create index account_tokens_citizen_idx on account_tokens (citizen_id, purpose);

-- The source of truth for email: a sender delivers what is due and retries with growing delays.
create table outbox (
  id bigserial primary key,
  to_address text not null,
  subject text not null,
  body text not null,
  created_at timestamptz not null default now(),
  send_after timestamptz not null default now(),
  attempts int not null default 0,
  sent_at timestamptz,
  failed_at timestamptz,
  last_error text
);
create index outbox_due_idx on outbox (send_after) where sent_at is null and failed_at is null;

create table staff_roles (
  citizen_id uuid not null references citizens (id) on delete cascade,
  role text not null check (role in ('officer', 'admin')),
  granted_at timestamptz not null default now(),
  granted_by text not null,
  primary key (citizen_id, role)
);
