-- test/citus/setup.sql: run on the coordinator after test/data/gen_crm.sql.
-- Keeps an undistributed copy of the sample CRM in schema local (plain
-- PostgreSQL tables on the coordinator: the single-node reference), then
-- distributes crm.* the way doc/citus.md recommends:
--   leads, stage_events, orders   hash-distributed by lead_id, co-located
--   spend                         a reference table (a copy on every node)
SET client_min_messages = error;   -- Citus warns that the local copy stays local

-- a last-modified column on spend, for materialized reports watched by
-- change columns (Citus tables cannot be watched by triggers;
-- pgtap/reports.sql), added here: an ALTER TABLE of the reference table in
-- a test's transaction would lock out Citus's own connection to the
-- coordinator's placement
ALTER TABLE crm.spend ADD COLUMN updated_at timestamptz;

DROP SCHEMA IF EXISTS local CASCADE;
CREATE SCHEMA local;
CREATE TABLE local.leads (LIKE crm.leads INCLUDING ALL);
INSERT INTO local.leads SELECT * FROM crm.leads;
CREATE TABLE local.stage_events (LIKE crm.stage_events INCLUDING ALL);
INSERT INTO local.stage_events SELECT * FROM crm.stage_events;
CREATE TABLE local.orders (LIKE crm.orders INCLUDING ALL);
INSERT INTO local.orders SELECT * FROM crm.orders;
CREATE TABLE local.spend (LIKE crm.spend INCLUDING ALL);
INSERT INTO local.spend SELECT * FROM crm.spend;
-- the same view over the local tables
SELECT format('CREATE VIEW local.campaign_days AS %s',
              replace(pg_get_viewdef('crm.campaign_days'::regclass), 'crm.', 'local.')) \gexec

-- gen_crm.sql makes unlogged tables, and Citus gives a shard the
-- persistence of its table: a worker that crashes would come back with its
-- shards of an unlogged table empty, and Citus would not notice.  Distribute
-- logged tables (t/fault.sh crashes a worker).
ALTER TABLE crm.leads SET LOGGED;
ALTER TABLE crm.stage_events SET LOGGED;
ALTER TABLE crm.orders SET LOGGED;
ALTER TABLE crm.spend SET LOGGED;

SELECT create_distributed_table('crm.leads', 'lead_id');
SELECT create_distributed_table('crm.stage_events', 'lead_id', colocate_with => 'crm.leads');
SELECT create_distributed_table('crm.orders', 'lead_id', colocate_with => 'crm.leads');
SELECT create_reference_table('crm.spend');
-- create_distributed_table copies the rows into the shards and leaves the
-- coordinator's own copy behind, invisible; free it
SELECT truncate_local_data_after_distributing_table(t)
FROM unnest(ARRAY['crm.leads', 'crm.stage_events', 'crm.orders', 'crm.spend']::regclass[]) t;

ANALYZE local.leads, local.stage_events, local.orders, local.spend;
ANALYZE crm.leads, crm.stage_events, crm.orders, crm.spend;
