-- Every server process keeps the active clients in memory (src/clients/client-cache.ts) and
-- forgets one when a change to its row is announced on the client_changed channel, whichever
-- process or tool made it. Notifications are sent when the transaction commits.
create function notify_client_changed() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    perform pg_notify('client_changed', old.client_id);
  else
    perform pg_notify('client_changed', new.client_id);
  end if;
  return null;
end
$$;

create trigger clients_changed after insert or update or delete on clients
  for each row execute function notify_client_changed();
