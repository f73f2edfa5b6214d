-- The floor: reading every event once.
SELECT count(*) FROM crm.stage_events;
