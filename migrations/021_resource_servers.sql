-- Resource servers: the units' APIs that clients ask access tokens for with a resource indicator
-- (RFC 8707). Such a token is a signed JWT (RFC 9068) for that API alone, checked by the API
-- against Kediri ID's JWKS, and stored nowhere. Owned by src/clients/resource-servers.ts.
create table resource_servers (
  id uuid primary key,
  -- The token's audience, exactly as clients send it: an absolute https URI without fragment.
  indicator text not null unique check (char_length(indicator) between 8 and 300),
  name text not null check (char_length(name) between 2 and 100),
  -- The scopes the API accepts; a token carries those of them the client asked for.
  scopes text[] not null default '{}',
  -- Short: a JWT cannot be revoked before it expires.
  access_token_ttl integer not null default 300 check (access_token_ttl between 60 and 900),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The clients that may obtain tokens for a resource server (none unless listed).
create table resource_server_clients (
  resource_server_id uuid not null references resource_servers (id) on delete cascade,
  client_id text not null references clients (client_id) on delete cascade,
  primary key (resource_server_id, client_id)
);
create index resource_server_clients_client_idx on resource_server_clients (client_id);

-- Every server process keeps the whole registry in memory (it is read at every token request with
-- a resource) and reads it again when a change is announced on resource_servers_changed, whichever
-- process or tool made it (a deleted client leaves the lists through the cascade, announced too).
create function notify_resource_servers_changed() returns trigger language plpgsql as $$
begin
  perform pg_notify('resource_servers_changed', '');
  return null;
end
$$;

create trigger resource_servers_changed after insert or update or delete or truncate on resource_servers
  for each statement execute function notify_resource_servers_changed();
create trigger resource_server_clients_changed after insert or update or delete or truncate on resource_server_clients
  for each statement execute function notify_resource_servers_changed();
