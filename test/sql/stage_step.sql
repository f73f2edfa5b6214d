-- stage_step(stages, stage) is array_position(stages, stage): for constant
-- and per-row lists (the list is read once per query, then compared in
-- every row unless it is a constant), NULL elements, repeated names,
-- empty strings and a lower bound other than 1 (a nondeterministic
-- collation: stage_step_icu); a multidimensional list is an error.
CREATE TABLE ss_cases AS
SELECT a.stages, s.stage
FROM (VALUES ('{lead,mql,sql,opportunity,customer}'::text[]), ('{}'), ('{a,NULL,b}'), ('{a,a,b,""}'),
             ('[0:2]={x,y,z}'), ('{NULL}'), ('{lead,LEAD,léad}')) AS a(stages),
     (VALUES ('lead'), ('mql'), ('customer'), ('a'), ('b'), (''), ('x'), ('z'), ('LEAD'), ('léad'),
             ('opportunity '), (NULL)) AS s(stage);
-- per row: the list changes from row to row
SELECT count(*) AS cases,
       count(*) FILTER (WHERE stage_step(stages, stage) IS DISTINCT FROM array_position(stages, stage)) AS differ
FROM ss_cases;
-- a constant list, over many rows
SELECT count(*) AS rows,
       count(*) FILTER (WHERE stage_step('{lead,mql,sql,opportunity,customer}', stage)
                        IS DISTINCT FROM array_position('{lead,mql,sql,opportunity,customer}'::text[], stage)) AS differ
FROM ss_cases, generate_series(1, 100);
SELECT stage_step('{lead,mql,sql}', 'sql') AS sql_step, stage_step('[5:6]={x,y}', 'y') AS lower_bound_5,
       stage_step('{lead,mql}', 'won') IS NULL AS unknown_null, stage_step('{lead,mql}', NULL) IS NULL AS null_null;
-- a multidimensional list
SELECT stage_step('{{lead,mql},{sql,won}}', 'sql');
DROP TABLE ss_cases;
