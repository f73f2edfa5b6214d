
-----------------------------------------------------------------------------
-- Salesforce preset: canonical views over Fivetran's Salesforce replication
-- (lead, opportunity, the stage history, campaign), then create_reports().
-- See doc/crm.md.
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.create_reports_salesforce(
    target_schema name,
    salesforce_schema name DEFAULT 'salesforce',
    stages text[] DEFAULT NULL,
    spend regclass DEFAULT NULL,
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    history regclass DEFAULT NULL,
    time_zone text DEFAULT NULL,
    money_decimals integer DEFAULT 2,
    change_detection text DEFAULT 'triggers')
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'Salesforce';
    ld regclass; opp regclass; camp regclass; member regclass; hist regclass; fhist regclass; ostage regclass;
    not_deleted_ld text := 'true'; not_deleted_o text := 'true'; not_deleted_c text := 'true';
    camp_expr text := 'NULL::text';
    hist_sql text;
    leads_sql text; events_sql text; spend_sql text; raw_sql text;
    known_only boolean := false;
    v_leads regclass; v_events regclass; v_spend regclass;
    won_at text;
    member_live text;
    start_fallback text;
    usr regclass; owner_expr text; campaigns_sql text; v_campaigns regclass;
BEGIN
    ld     := @extschema@._lk_rel(p, salesforce_schema, 'lead', true);
    opp    := @extschema@._lk_rel(p, salesforce_schema, 'opportunity', true);
    camp   := @extschema@._lk_rel(p, salesforce_schema, 'campaign', false);
    member := @extschema@._lk_rel(p, salesforce_schema, 'campaign_member', false);
    hist   := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_history', false);
    fhist  := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_field_history', false);
    ostage := @extschema@._lk_rel(p, salesforce_schema, 'opportunity_stage', false);
    -- the stage history: given (e.g. salesforce_history.opportunity), else
    -- opportunity_history, else opportunity itself in Fivetran's in-place
    -- history mode (one row per version), else opportunity_field_history
    IF history IS NOT NULL THEN
        IF @extschema@._lk_type(p, history, 'field', false) IS NOT NULL THEN
            fhist := history;
            hist := NULL;
        ELSIF @extschema@._lk_type(p, history, 'opportunity_id', false) IS NOT NULL
              OR @extschema@._lk_type(p, history, '_fivetran_start', false) IS NOT NULL THEN
            hist := history;
        ELSE
            RAISE EXCEPTION 'leadkpi: Salesforce preset: history % has none of the columns "field", "opportunity_id" or "_fivetran_start"', history
                USING ERRCODE = '42703',
                      HINT = 'Pass an OpportunityHistory (opportunity_id, stage_name, created_date), OpportunityFieldHistory (opportunity_id, field, new_value, created_date) or history-mode opportunity (id, stage_name, _fivetran_start) table.';
        END IF;
    ELSIF hist IS NULL AND fhist IS NULL AND @extschema@._lk_type(p, opp, '_fivetran_start', false) IS NOT NULL THEN
        hist := opp;
    END IF;

    PERFORM @extschema@._lk_type(p, ld, c) FROM unnest(ARRAY['id', 'created_date', 'converted_date', 'converted_opportunity_id', 'lead_source']) AS c;
    PERFORM @extschema@._lk_type(p, opp, c) FROM unnest(ARRAY['id', 'close_date', 'is_won', 'is_closed', 'amount', 'campaign_id', 'stage_name']) AS c;
    -- live rows only: not deleted, the current version in history mode
    not_deleted_ld := @extschema@._lk_live(p, ld, 'ld');
    not_deleted_o := @extschema@._lk_live(p, opp, 'o');
    IF camp IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, camp, c) FROM unnest(ARRAY['id', 'name']) AS c;
        not_deleted_c := @extschema@._lk_live(p, camp, 'c');
        member_live := @extschema@._lk_live(p, member, 'cm');
        -- the converted opportunity's campaign, else the lead's first campaign membership
        camp_expr := format('(SELECT c.name::text FROM %s AS c WHERE c.id = coalesce(o.campaign_id%s) AND %s)', camp,
            CASE WHEN member IS NOT NULL AND @extschema@._lk_type(p, member, 'lead_id', false) IS NOT NULL
                 THEN format(', (SELECT cm.campaign_id FROM %s AS cm WHERE cm.lead_id = ld.id AND %s ORDER BY cm.created_date, cm.campaign_id LIMIT 1)',
                             member, member_live)
                 ELSE '' END,
            not_deleted_c);
    END IF;

    -- the campaigns' channel: campaign.type (for the cost per channel)
    IF camp IS NOT NULL AND @extschema@._lk_type(p, camp, 'type', false) IS NOT NULL THEN
        campaigns_sql := format('SELECT c.name::text AS campaign, c.type::text AS channel, c.name::text AS name FROM %s AS c WHERE %s',
                                camp, not_deleted_c);
    END IF;
    -- the owner: the user named by lead.owner_id (a queue owns none: NULL)
    usr := @extschema@._lk_rel(p, salesforce_schema, 'user', false);
    IF usr IS NOT NULL AND @extschema@._lk_type(p, ld, 'owner_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, usr, c) FROM unnest(ARRAY['id', 'name']) AS c;
        owner_expr := format('(SELECT u.name::text FROM %s AS u WHERE u.id = ld.owner_id AND %s)', usr, @extschema@._lk_live(p, usr, 'u'));
    END IF;

    -- won: the converted opportunity is won, at its close_date (a date: read
    -- as midnight UTC, and never before the lead's creation)
    won_at := format('greatest(%s, %s)', @extschema@._lk_utc(p, opp, 'o', 'close_date'), @extschema@._lk_utc(p, ld, 'ld', 'created_date'));
    leads_sql := format(
        'SELECT ld.id::text AS lead_id, %s AS first_contact_at, %s AS campaign, ld.lead_source::text AS channel, '
        'CASE WHEN o.is_won THEN %s END AS converted_at, '
        'CASE WHEN o.is_closed AND NOT o.is_won THEN %s END AS lost_at, '
        'CASE WHEN o.is_won THEN o.amount::numeric END AS revenue, '
        -- the converted opportunity's amount: what the forecast expects of it while open
        'o.amount::numeric AS expected_revenue%s '
        'FROM %s AS ld LEFT JOIN %s AS o ON o.id = ld.converted_opportunity_id AND %s WHERE %s',
        @extschema@._lk_utc(p, ld, 'ld', 'created_date'), camp_expr, won_at, won_at,
        CASE WHEN owner_expr IS NULL THEN '' ELSE format(', %s AS owner', owner_expr) END, ld, opp, not_deleted_o, not_deleted_ld);

    -- stage history of the converted opportunities, first entry per stage
    IF hist IS NOT NULL AND @extschema@._lk_type(p, hist, 'opportunity_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, hist, c) FROM unnest(ARRAY['stage_name', 'created_date']) AS c;
        hist_sql := format('SELECT h.opportunity_id AS opp_id, h.stage_name::text AS stage, %s AS at FROM %s AS h WHERE %s',
                           @extschema@._lk_utc(p, hist, 'h', 'created_date'), hist, @extschema@._lk_live(p, hist, 'h', false));
    ELSIF hist IS NOT NULL AND @extschema@._lk_type(p, hist, '_fivetran_start', false) IS NOT NULL THEN
        -- Fivetran history mode: one row per version of the opportunity
        PERFORM @extschema@._lk_type(p, hist, c) FROM unnest(ARRAY['id', 'stage_name']) AS c;
        -- every version, not only the active one.  The first entry per stage
        -- is its _fivetran_start: when Fivetran saw it, which for the first
        -- version is when the sync began, not the stage's own date.
        hist_sql := format('SELECT h.id AS opp_id, h.stage_name::text AS stage, %s AS at FROM %s AS h WHERE %s',
                           @extschema@._lk_utc(p, hist, 'h', '_fivetran_start'), hist, @extschema@._lk_live(p, hist, 'h', false));
    ELSIF fhist IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, fhist, c) FROM unnest(ARRAY['opportunity_id', 'field', 'new_value', 'created_date']) AS c;
        hist_sql := format('SELECT h.opportunity_id AS opp_id, h.new_value::text AS stage, %s AS at FROM %s AS h WHERE h.field = ''StageName'' AND %s',
                           @extschema@._lk_utc(p, fhist, 'h', 'created_date'), fhist, @extschema@._lk_live(p, fhist, 'h', false));
    END IF;
    -- the stages: given, else Lead, Converted and opportunity_stage by
    -- sort_order (without the lost stages), else the stages knowable without
    -- a stage list: Lead, Converted, and Won from the opportunity's is_won
    IF stages IS NULL AND ostage IS NOT NULL AND hist_sql IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, ostage, c) FROM unnest(ARRAY['master_label', 'sort_order', 'is_won', 'is_closed']) AS c;
        EXECUTE format('SELECT array_agg(label ORDER BY so, label) FROM (SELECT master_label::text AS label, min(sort_order) AS so '
                       'FROM %s WHERE is_won OR NOT is_closed GROUP BY 1) AS x', ostage) INTO stages;
        stages := ARRAY['Lead', 'Converted'] || stages;
    END IF;
    IF stages IS NULL THEN
        known_only := true;
        stages := ARRAY['Lead', 'Converted', 'Won'];
        RAISE NOTICE 'leadkpi: Salesforce preset: %, so the funnel has the stages Lead, Converted and Won only',
            CASE WHEN hist_sql IS NULL THEN 'no stage history and no opportunity_stage table' ELSE 'no opportunity_stage table to order the stage history' END
            USING HINT = 'For the full funnel, pass stages => ARRAY[''Lead'', ''Converted'', ''Prospecting'', ..., ''Closed Won''] '
                         '(your StageName values in funnel order), or replicate the opportunity_stage table.';
    END IF;
    IF hist_sql IS NULL AND NOT known_only THEN
        RAISE NOTICE 'leadkpi: Salesforce preset: no stage history in schema % (opportunity_history, opportunity_field_history, or opportunity in Fivetran''s history mode), so the funnel has the steps Lead and Converted only', quote_ident(salesforce_schema)
            USING HINT = CASE WHEN to_regclass(format('%I.opportunity', salesforce_schema || '_history')) IS NOT NULL
                              THEN format('Pass history => %L.', format('%I.opportunity', salesforce_schema || '_history'))
                              ELSE 'Pass history => the table holding the stage history (e.g. Fivetran''s salesforce_history.opportunity).' END;
    END IF;
    -- every stage entry: Lead at creation, Converted at the lead's
    -- conversion, then the converted opportunity's stages (or its win)
    raw_sql := format(
        'SELECT ld.id::text AS lead_id, ''Lead'' AS stage, %s AS occurred_at FROM %s AS ld WHERE %s '
        'UNION ALL SELECT ld.id::text, ''Converted'', greatest(%s, %s) FROM %s AS ld WHERE %s AND ld.converted_date IS NOT NULL',
        @extschema@._lk_utc(p, ld, 'ld', 'created_date'), ld, not_deleted_ld,
        @extschema@._lk_utc(p, ld, 'ld', 'converted_date'), @extschema@._lk_utc(p, ld, 'ld', 'created_date'), ld, not_deleted_ld);
    IF known_only THEN
        raw_sql := raw_sql || format(
            ' UNION ALL SELECT ld.id::text, ''Won'', %s FROM %s AS ld JOIN %s AS o ON o.id = ld.converted_opportunity_id AND %s WHERE %s AND o.is_won',
            won_at, ld, opp, not_deleted_o, not_deleted_ld);
    ELSIF hist_sql IS NOT NULL THEN
        raw_sql := raw_sql || format(
            ' UNION ALL SELECT ld.id::text, h.stage, h.at FROM %s AS ld '
            'JOIN %s AS o ON o.id = ld.converted_opportunity_id AND %s '
            'JOIN (%s) AS h ON h.opp_id = o.id WHERE %s',
            ld, opp, not_deleted_o, hist_sql, not_deleted_ld);
    END IF;
    events_sql := format('SELECT lead_id, stage, min(occurred_at) AS occurred_at FROM (%s) AS e '
                         'WHERE stage = ANY (%L::text[]) GROUP BY lead_id, stage', raw_sql, stages);

    -- campaign.actual_cost is a lifetime total: spread it evenly over the
    -- days start_date..end_date (no start: created_date; no end, or an end
    -- before the start: the start day alone), truncated to cents, the
    -- remainder on the last day, so the days sum back to the total exactly.
    IF spend IS NULL AND camp IS NOT NULL AND @extschema@._lk_type(p, camp, 'actual_cost', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, camp, c) FROM unnest(ARRAY['start_date', 'end_date']) AS c;
        -- no start_date: created_date, when the table has it
        start_fallback := @extschema@._lk_utc(p, camp, 'c', 'created_date', false);
        start_fallback := CASE WHEN start_fallback IS NULL THEN 'NULL::date'
                               ELSE format('(%s AT TIME ZONE ''UTC'')::date', start_fallback) END;
        spend_sql := format(
            'SELECT c.name::text AS campaign, (r.first_day + d.i)::date AS day, '
            'CASE WHEN d.i < r.n - 1 THEN trunc(c.actual_cost::numeric / r.n, 2) '
            'ELSE c.actual_cost::numeric - trunc(c.actual_cost::numeric / r.n, 2) * (r.n - 1) END AS amount '
            'FROM %s AS c '
            'CROSS JOIN LATERAL (SELECT s.first_day, greatest(coalesce(c.end_date::date, s.first_day), s.first_day) - s.first_day + 1 AS n '
            'FROM (SELECT coalesce(c.start_date::date, %s) AS first_day) AS s) AS r '
            'CROSS JOIN LATERAL generate_series(0, r.n - 1) AS d(i) '
            'WHERE c.actual_cost IS NOT NULL AND r.first_day IS NOT NULL AND %s',
            camp, start_fallback, not_deleted_c);
    END IF;

    PERFORM @extschema@._lk_check_change_detection(p, change_detection);
    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from Salesforce %s: converted = the converted opportunity (%s) is won, at its close_date', ld, opp));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('stage events from Salesforce: Lead (created), Converted (converted_date), then the converted opportunity''s stages; first entry per stage; stages %s', stages));
        RETURN NEXT v_events;
        PERFORM @extschema@._lk_preset_stages(p, CASE WHEN hist_sql IS NULL OR known_only THEN ld::text ELSE format('%s and its stage history', ld) END,
                                              raw_sql, stages, 'The stages must match StageName values exactly, in funnel order.');
    END IF;
    IF spend_sql IS NOT NULL THEN
        v_spend := @extschema@._lk_canonical(target_schema, 'canonical_spend', spend_sql,
            format('spend from Salesforce %s: actual_cost spread evenly over start_date..end_date, remainder on the last day', camp));
        RETURN NEXT v_spend;
    END IF;
    IF campaigns_sql IS NOT NULL THEN
        v_campaigns := @extschema@._lk_canonical(target_schema, 'canonical_campaigns', campaigns_sql,
            format('campaigns from Salesforce %s: the channel is the campaign''s type', camp));
        RETURN NEXT v_campaigns;
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => coalesce(spend, v_spend), campaigns => v_campaigns,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone, money_decimals => money_decimals,
        watch => CASE WHEN materialized THEN @extschema@._lk_salesforce_watch(ld, opp, camp, member,
                     CASE WHEN events_sql IS NOT NULL THEN coalesce(hist, fhist) END,
                     CASE WHEN hist IS NOT NULL AND hist <> opp AND @extschema@._lk_type(p, hist, 'opportunity_id', false) IS NULL THEN 'id'
                          ELSE 'opportunity_id' END,
                     spend IS NULL AND spend_sql IS NOT NULL, change_detection)
                     -- a renamed owner moves their leads
                     || (SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
                            (@extschema@._lk_watch_entry(CASE WHEN owner_expr IS NOT NULL THEN usr END, 'lead_ids',
                                 format('SELECT ld.id FROM %s AS ld WHERE ld.owner_id IN (SELECT id FROM changed)', ld), change_detection,
                                 '{_fivetran_synced,system_modstamp}'))) AS v(w)) END);
    PERFORM set_config('leadkpi.stages_reported', '', true);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_salesforce(name, name, text[], regclass, interval, text, boolean, regclass, text, integer, text) IS
'Salesforce (Fivetran) preset: canonical views over lead, opportunity, the stage history (history, else opportunity_history, opportunity_field_history or opportunity in history mode) and campaign in salesforce_schema, then create_reports() in target_schema. Deleted rows and inactive history-mode versions are left out; materialized reports watch those tables (change_detection: triggers, columns (_fivetran_synced, system_modstamp) or none). See doc/crm.md.';

-- What materialized Salesforce reports watch, and how a changed row maps to
-- the lead ids it touches (NULL tables are not read).  A campaign maps to
-- its spend days and, when new, gone or renamed (or its deletion flags
-- change), to the leads that take their campaign from it.
CREATE OR REPLACE FUNCTION @extschema@._lk_salesforce_watch(
    ld regclass, opp regclass, camp regclass, member regclass, hist regclass, hist_col text,
    spend_from_campaign boolean, change_detection text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols CONSTANT text[] := '{_fivetran_synced,system_modstamp}';
    by_opp text := format('SELECT ld.id FROM %s AS ld WHERE ld.converted_opportunity_id IN (SELECT %%s FROM changed)', ld);
    renamed text;
BEGIN
    IF camp IS NOT NULL THEN
        -- a campaign row whose name or deletion flags are not the same in all
        -- its versions in changed (or that has one version: new, gone, or a
        -- change column's row)
        renamed := format('SELECT ld.id FROM %1$s AS ld JOIN %2$s AS o ON o.id = ld.converted_opportunity_id '
                          'WHERE o.campaign_id IN (SELECT id FROM c)', ld, opp)
                   || CASE WHEN member IS NOT NULL AND @extschema@._lk_type('Salesforce', member, 'lead_id', false) IS NOT NULL
                           THEN format(' UNION ALL SELECT cm.lead_id FROM %s AS cm WHERE cm.campaign_id IN (SELECT id FROM c)', member) ELSE '' END;
        renamed := format('WITH c AS (SELECT id FROM changed GROUP BY id HAVING count(*) = 1 OR count(DISTINCT (name::text, %s)) > 1) %s',
                          @extschema@._lk_live('Salesforce', camp, 'changed'), renamed);
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
        (@extschema@._lk_watch_entry(ld, 'lead_ids', 'SELECT id FROM changed', change_detection, cols)),
        (@extschema@._lk_watch_entry(opp, 'lead_ids', format(by_opp, 'id'), change_detection, cols)),
        (@extschema@._lk_watch_entry(camp, 'lead_ids', renamed, change_detection, cols)),
        (@extschema@._lk_watch_entry(CASE WHEN spend_from_campaign THEN camp END, 'spend', 'SELECT name, NULL::date FROM changed', change_detection, cols)),
        (@extschema@._lk_watch_entry(member, 'lead_ids', 'SELECT lead_id FROM changed', change_detection, cols)),
        (@extschema@._lk_watch_entry(CASE WHEN hist IS DISTINCT FROM opp THEN hist END, 'events_only', format(by_opp, hist_col), change_detection,
                                     cols || '{created_date}'::text[]))
    ) AS v(w));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_salesforce_watch(regclass, regclass, regclass, regclass, regclass, text, boolean, text) IS
'leadkpi internal: the watch list of materialized Salesforce reports: the CRM tables and how a changed row maps to lead ids';
