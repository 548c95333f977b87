-- Renewals update one client row per heartbeat and claims update partition rows: leave free space on
-- each page so these stay HOT updates (no index touches the updated columns).
ALTER TABLE "dbleases_schema"."dbleases_prefix_clients" SET (fillfactor = 70);--> statement-breakpoint
ALTER TABLE "dbleases_schema"."dbleases_prefix_partitions" SET (fillfactor = 80);
