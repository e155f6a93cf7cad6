-- Every server process keeps the active clients in memory (src/clients/client-cache.ts) and
-- forgets one when a change to its row is announced on the client_changed channel, whichever
-- process or tool made it. Notifications are sent when the transaction commits.
create function notify_client_changed() returns trigger language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform pg_notify('client_changed', old.client_id);
  end if;
  if tg_op = 'INSERT' or (tg_op = 'UPDATE' and new.client_id <> old.client_id) then
    perform pg_notify('client_changed', new.client_id);
  end if;
  return null;
end
$$;

create trigger clients_changed after insert or update or delete on clients
  for each row execute function notify_client_changed();
