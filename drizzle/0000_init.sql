CREATE TABLE "dbleases_schema"."dbleases_prefix_clients" (
	"client_id" text NOT NULL,
	"instance" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"heartbeat_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"state" text DEFAULT 'live' NOT NULL,
	"info" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "dbleases_prefix_clients_pk" PRIMARY KEY("client_id")
);
--> statement-breakpoint
CREATE TABLE "dbleases_schema"."dbleases_prefix_history" (
	"id" bigserial NOT NULL,
	"lease_name" text NOT NULL,
	"partition" integer NOT NULL,
	"from_client" text,
	"to_client" text,
	"epoch" bigint NOT NULL,
	"reason" text NOT NULL,
	"at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "dbleases_prefix_history_pk" PRIMARY KEY("id")
);
--> statement-breakpoint
CREATE TABLE "dbleases_schema"."dbleases_prefix_leases" (
	"lease_name" text NOT NULL,
	"size" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "dbleases_prefix_leases_pk" PRIMARY KEY("lease_name")
);
--> statement-breakpoint
CREATE TABLE "dbleases_schema"."dbleases_prefix_members" (
	"lease_name" text NOT NULL,
	"client_id" text NOT NULL,
	"joined_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "dbleases_prefix_members_pk" PRIMARY KEY("lease_name","client_id")
);
--> statement-breakpoint
CREATE TABLE "dbleases_schema"."dbleases_prefix_partitions" (
	"lease_name" text NOT NULL,
	"partition" integer NOT NULL,
	"owner" text,
	"epoch" bigint DEFAULT 0 NOT NULL,
	"owned_since" timestamp with time zone,
	"last_owner" text,
	"release_reason" text,
	CONSTRAINT "dbleases_prefix_partitions_pk" PRIMARY KEY("lease_name","partition")
);
--> statement-breakpoint
ALTER TABLE "dbleases_schema"."dbleases_prefix_members" ADD CONSTRAINT "dbleases_prefix_members_client_fk" FOREIGN KEY ("client_id") REFERENCES "dbleases_schema"."dbleases_prefix_clients"("client_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dbleases_schema"."dbleases_prefix_members" ADD CONSTRAINT "dbleases_prefix_members_lease_fk" FOREIGN KEY ("lease_name") REFERENCES "dbleases_schema"."dbleases_prefix_leases"("lease_name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dbleases_schema"."dbleases_prefix_partitions" ADD CONSTRAINT "dbleases_prefix_partitions_lease_fk" FOREIGN KEY ("lease_name") REFERENCES "dbleases_schema"."dbleases_prefix_leases"("lease_name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "dbleases_prefix_history_lease_idx" ON "dbleases_schema"."dbleases_prefix_history" USING btree ("lease_name","id");