
-----------------------------------------------------------------------------
-- Odoo preset: canonical views over Odoo's CRM tables (crm_lead, crm_stage,
-- utm_*, mail_tracking_value, sale_order), then create_reports().  See
-- doc/crm.md.
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.create_reports_odoo(
    target_schema name,
    odoo_schema name DEFAULT 'public',
    stages text[] DEFAULT NULL,
    spend regclass DEFAULT NULL,
    lang text DEFAULT 'en_US',
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    time_zone text DEFAULT NULL,
    change_detection text DEFAULT 'triggers')
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'Odoo';
    lead regclass; stage regclass; camp regclass; medium regclass; source regclass;
    mtv regclass; mm regclass; imf regclass; so regclass;
    stage_label text; camp_label text; medium_label text; source_label text;
    field_col text; rev_col text;
    won text;
    leads_sql text; events_sql text; orders_sql text;
    v_events regclass; v_orders regclass; v_leads regclass;
    all_stages text[];
BEGIN
    lead   := @extschema@._lk_rel(p, odoo_schema, 'crm_lead', true);
    stage  := @extschema@._lk_rel(p, odoo_schema, 'crm_stage', true);
    camp   := @extschema@._lk_rel(p, odoo_schema, 'utm_campaign', false);
    medium := @extschema@._lk_rel(p, odoo_schema, 'utm_medium', false);
    source := @extschema@._lk_rel(p, odoo_schema, 'utm_source', false);
    mtv    := @extschema@._lk_rel(p, odoo_schema, 'mail_tracking_value', false);
    so     := @extschema@._lk_rel(p, odoo_schema, 'sale_order', false);

    PERFORM @extschema@._lk_type(p, lead, c) FROM unnest(ARRAY['id', 'stage_id', 'active', 'probability', 'date_closed']) AS c;
    PERFORM @extschema@._lk_type(p, stage, c) FROM unnest(ARRAY['id', 'sequence', 'is_won', 'name']) AS c;
    stage_label := @extschema@._lk_label(p, stage, 'st', 'name', lang);
    camp_label := coalesce(@extschema@._lk_label(p, camp, 'ca', 'title', lang), @extschema@._lk_label(p, camp, 'ca', 'name', lang));
    medium_label := @extschema@._lk_label(p, medium, 'me', 'name', lang);
    source_label := @extschema@._lk_label(p, source, 'so', 'name', lang);
    -- a label without its many2one column on crm_lead reads NULL
    IF @extschema@._lk_type(p, lead, 'campaign_id', false) IS NULL THEN camp_label := NULL; END IF;
    IF @extschema@._lk_type(p, lead, 'medium_id', false) IS NULL THEN medium_label := NULL; END IF;
    IF @extschema@._lk_type(p, lead, 'source_id', false) IS NULL THEN source_label := NULL; END IF;
    rev_col := CASE WHEN @extschema@._lk_type(p, lead, 'expected_revenue', false) IS NOT NULL THEN 'expected_revenue'
                    WHEN @extschema@._lk_type(p, lead, 'planned_revenue', false) IS NOT NULL THEN 'planned_revenue' END;

    -- the funnel stages: crm_stage names by sequence, each name once
    EXECUTE format('SELECT array_agg(label ORDER BY seq, label) FROM '
                   '(SELECT %s AS label, min(st.sequence) AS seq FROM %s AS st GROUP BY 1) AS x WHERE label IS NOT NULL',
                   stage_label, stage) INTO all_stages;
    stages := coalesce(stages, all_stages);

    -- won: active, probability 100 and a stage flagged is_won (Odoo's own rule)
    won := 'l.active AND l.probability = 100 AND st.is_won';
    leads_sql := format(
        'SELECT l.id::bigint AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
        'CASE WHEN %s THEN coalesce(%s, %s) END AS converted_at, '
        'CASE WHEN NOT l.active AND l.probability = 0 THEN %s END AS lost_at, '
        '%s AS revenue '
        'FROM %s AS l LEFT JOIN %s AS st ON st.id = l.stage_id%s%s%s',
        @extschema@._lk_utc(p, lead, 'l', 'create_date'),
        coalesce(camp_label, 'NULL::text'),
        CASE WHEN medium_label IS NULL AND source_label IS NULL THEN 'NULL::text'
             ELSE format('coalesce(%s, %s)', coalesce(medium_label, 'NULL'), coalesce(source_label, 'NULL')) END,
        won, @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        coalesce(@extschema@._lk_utc(p, lead, 'l', 'date_last_stage_update', false), 'NULL'),
        @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        CASE WHEN rev_col IS NULL THEN 'NULL::numeric' ELSE format('CASE WHEN %s THEN l.%I::numeric END', won, rev_col) END,
        lead, stage,
        CASE WHEN camp_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS ca ON ca.id = l.campaign_id', camp) END,
        CASE WHEN medium_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS me ON me.id = l.medium_id', medium) END,
        CASE WHEN source_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS so ON so.id = l.source_id', source) END);

    -- stage history: mail_tracking_value rows of crm.lead's stage_id field
    IF mtv IS NOT NULL THEN
        mm  := @extschema@._lk_rel(p, odoo_schema, 'mail_message', true);
        imf := @extschema@._lk_rel(p, odoo_schema, 'ir_model_fields', true);
        field_col := CASE WHEN @extschema@._lk_type(p, mtv, 'field_id', false) IS NOT NULL THEN 'field_id' ELSE 'field' END;
        PERFORM @extschema@._lk_type(p, mtv, c) FROM unnest(ARRAY['mail_message_id', field_col, 'old_value_integer', 'new_value_integer']) AS c;
        PERFORM @extschema@._lk_type(p, mm, c) FROM unnest(ARRAY['id', 'model', 'res_id', 'date']) AS c;
        PERFORM @extschema@._lk_type(p, imf, c) FROM unnest(ARRAY['id', 'model', 'name']) AS c;
        events_sql := format(
            'WITH tv AS (SELECT m.res_id AS lead_id, %s AS at, v.id AS tv_id, v.old_value_integer AS old_stage, '
            'v.new_value_integer AS new_stage FROM %s AS v JOIN %s AS m ON m.id = v.mail_message_id '
            'JOIN %s AS f ON f.id = v.%I WHERE m.model = ''crm.lead'' AND f.model = ''crm.lead'' AND f.name = ''stage_id''), '
            'ev AS ('
            -- the first stage, entered at creation: the old value of the first change, else the current stage
            'SELECT l.id::bigint AS lead_id, %s AS stage, %s AS occurred_at FROM %s AS l '
            'LEFT JOIN LATERAL (SELECT tv.old_stage FROM tv WHERE tv.lead_id = l.id ORDER BY tv.at, tv.tv_id LIMIT 1) AS first ON true '
            'JOIN %s AS st ON st.id = coalesce(first.old_stage, l.stage_id) '
            'UNION ALL SELECT tv.lead_id::bigint, %s, tv.at FROM tv JOIN %s AS st ON st.id = tv.new_stage) '
            'SELECT lead_id, stage, occurred_at FROM ev WHERE stage = ANY (%L::text[])',
            @extschema@._lk_utc(p, mm, 'm', 'date'), mtv, mm, imf, field_col,
            stage_label, @extschema@._lk_utc(p, lead, 'l', 'create_date'), lead, stage,
            stage_label, stage, stages);
    END IF;

    IF so IS NOT NULL AND @extschema@._lk_type(p, so, 'opportunity_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, so, c) FROM unnest(ARRAY['date_order', 'amount_untaxed', 'state']) AS c;
        orders_sql := format(
            'SELECT o.opportunity_id::bigint AS lead_id, %s AS ordered_at, o.amount_untaxed::numeric AS amount '
            'FROM %s AS o WHERE o.opportunity_id IS NOT NULL AND o.state IN (''sale'', ''done'')',
            @extschema@._lk_utc(p, so, 'o', 'date_order'), so);
    END IF;

    PERFORM @extschema@._lk_check_change_detection(p, change_detection);
    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from Odoo %s: converted = won (active, probability 100, stage is_won) at date_closed', lead));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('stage events from Odoo %s (stage_id changes) plus the first stage at create_date, stages %s', mtv, stages));
        RETURN NEXT v_events;
    END IF;
    IF orders_sql IS NOT NULL THEN
        v_orders := @extschema@._lk_canonical(target_schema, 'canonical_orders', orders_sql,
            format('orders from Odoo %s: confirmed (state sale or done), amount_untaxed', so));
        RETURN NEXT v_orders;
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => spend, orders => v_orders,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone,
        watch => CASE WHEN materialized THEN @extschema@._lk_odoo_watch(lead, stage,
                     CASE WHEN camp_label IS NOT NULL THEN camp END, CASE WHEN medium_label IS NOT NULL THEN medium END,
                     CASE WHEN source_label IS NOT NULL THEN source END,
                     CASE WHEN events_sql IS NOT NULL THEN mtv END, mm, imf, CASE WHEN orders_sql IS NOT NULL THEN so END,
                     change_detection) END);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_odoo(name, name, text[], regclass, text, interval, text, boolean, text, text) IS
'Odoo preset: canonical views over crm_lead, crm_stage, utm_*, mail_tracking_value and sale_order in odoo_schema, then create_reports() in target_schema; materialized reports watch those tables (change_detection: triggers, columns (write_date) or none). See doc/crm.md.';

-- What materialized Odoo reports watch, and how a changed row maps to the
-- crm_lead ids it touches (NULL tables are not read).  Stage names and
-- is_won flags, and the stage_id field row, can change every lead: a full
-- rebuild.
CREATE OR REPLACE FUNCTION @extschema@._lk_odoo_watch(
    lead regclass, stage regclass, camp regclass, medium regclass, source regclass,
    mtv regclass, mm regclass, imf regclass, so regclass, change_detection text)
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
        (@extschema@._lk_watch_entry(lead, 'lead_ids', 'SELECT id FROM changed', change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(stage, 'rebuild', NULL, change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(camp, 'lead_ids', format('SELECT l.id FROM %s AS l WHERE l.campaign_id IN (SELECT id FROM changed)', lead), change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(medium, 'lead_ids', format('SELECT l.id FROM %s AS l WHERE l.medium_id IN (SELECT id FROM changed)', lead), change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(source, 'lead_ids', format('SELECT l.id FROM %s AS l WHERE l.source_id IN (SELECT id FROM changed)', lead), change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(mtv, 'events_only',
            format('SELECT m.res_id FROM %s AS m WHERE m.id IN (SELECT mail_message_id FROM changed) AND m.model = ''crm.lead''', mm),
            change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(CASE WHEN mtv IS NOT NULL THEN mm END, 'events_only', 'SELECT res_id FROM changed WHERE model = ''crm.lead''', change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(CASE WHEN mtv IS NOT NULL THEN imf END, 'rebuild', NULL, change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(so, 'lead_ids', 'SELECT opportunity_id FROM changed', change_detection, '{write_date}'))
    ) AS v(w);
END;
COMMENT ON FUNCTION @extschema@._lk_odoo_watch(regclass, regclass, regclass, regclass, regclass, regclass, regclass, regclass, regclass, text) IS
'leadkpi internal: the watch list of materialized Odoo reports: the CRM tables and how a changed row maps to crm_lead ids';
