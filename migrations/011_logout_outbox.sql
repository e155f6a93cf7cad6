-- Back-channel logout deliveries (src/oidc/logout-outbox.ts): one row per relying party and
-- session that ended, kept until delivered or given up, so that a relying party that is down
-- still learns of the logout when it comes back. The row holds what the logout token is made of,
-- not the token: the token is signed afresh at each attempt (it lives two minutes), and its sub is
-- the subject the provider gives this client for account_id (public or pairwise).
create table logout_outbox (
  id bigserial primary key,
  client_id text not null,
  -- The client's backchannel_logout_uri at the last attempt.
  uri text not null,
  account_id text not null,
  -- The session's id for this client (the sid of its ID tokens): one logout per client and session.
  sid text not null,
  created_at timestamptz not null default now(),
  attempts int not null default 0,
  next_attempt_at timestamptz not null default now(),
  delivered_at timestamptz,
  -- Given up: retried for a day in vain, refused by the outbound allowlist, or the client is gone.
  failed_at timestamptz,
  last_error text,
  unique (client_id, sid)
);
create index logout_outbox_due_idx on logout_outbox (next_attempt_at) where delivered_at is null and failed_at is null;
