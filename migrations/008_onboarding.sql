-- Unit onboarding (src/clients/, src/identity/staff.ts): unit developers tied to units, staff
-- invitations, client registration requests with their review, and initial access tokens for
-- dynamic client registration (RFC 7591/7592).

alter table staff_roles drop constraint staff_roles_role_check;
alter table staff_roles add constraint staff_roles_role_check check (role in ('officer', 'admin', 'developer'));

create table developer_units (
  citizen_id uuid not null references citizens (id) on delete cascade,
  unit_slug text not null references units (slug),
  primary key (citizen_id, unit_slug)
);

-- An administrator invites a person by email to a role (a developer to a unit); the invitation is
-- accepted by signing in with Kediri ID through its link. Only the link's keyed hash is stored.
create table staff_invitations (
  id uuid primary key,
  email text not null,
  role text not null check (role in ('officer', 'admin', 'developer')),
  unit_slug text references units (slug),
  token_hash text not null unique,
  invited_by uuid references citizens (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  accepted_by uuid references citizens (id) on delete set null,
  accepted_at timestamptz,
  check ((role = 'developer') = (unit_slug is not null))
);

-- A request to register a client, or to change an approved one. `details` is the registration as
-- the developer asked for it (src/clients/registration.ts); approval writes it to the client.
create table client_requests (
  id uuid primary key,
  unit_slug text not null references units (slug),
  client_id text references clients (client_id) on delete cascade,
  kind text not null check (kind in ('create', 'change')),
  source text not null default 'portal' check (source in ('portal', 'dynamic')),
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected', 'withdrawn')),
  details jsonb not null,
  submitted_by uuid references citizens (id) on delete set null,
  submitted_at timestamptz not null default now(),
  reviewed_by uuid references citizens (id) on delete set null,
  reviewed_at timestamptz,
  review_reason text,
  approved_scope text
);
create index client_requests_queue_idx on client_requests (status, submitted_at);
create index client_requests_unit_idx on client_requests (unit_slug, submitted_at);
-- One open request per client at a time.
create unique index client_requests_open_idx on client_requests (client_id) where status = 'pending' and client_id is not null;

-- The secret of an approved client is shown once, to a developer of its unit.
alter table clients add column secret_shown_at timestamptz;
-- RFC 7592: the registration access token of a dynamically registered client (keyed hash).
alter table clients add column registration_token_hash text unique;

-- RFC 7591 initial access tokens: issued by an administrator for one unit, with a number of uses
-- and an expiry; only the keyed hash is stored.
create table initial_access_tokens (
  id uuid primary key,
  token_hash text not null unique,
  unit_slug text not null references units (slug),
  uses_left int not null check (uses_left >= 0),
  expires_at timestamptz not null,
  created_by uuid references citizens (id) on delete set null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);

-- A unit's logo, uploaded by an administrator (PNG or JPEG), served from our own origin (no CDN).
alter table units add column logo bytea, add column logo_type text check (logo_type in ('image/png', 'image/jpeg'));

-- The admin console's audit log filters by citizen and by client, and shows a citizen's last login.
create index audit_events_citizen_idx on audit_events (citizen_id, at) where citizen_id is not null;
create index audit_events_client_idx on audit_events (client_id, at) where client_id is not null;
