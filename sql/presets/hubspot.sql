
-----------------------------------------------------------------------------
-- HubSpot preset: canonical views over Fivetran's HubSpot replication
-- (contact, contact_property_history, deal, deal_contact,
-- deal_pipeline_stage), then create_reports().  See doc/crm.md.
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION @extschema@.create_reports_hubspot(
    target_schema name,
    hubspot_schema name DEFAULT 'hubspot',
    stages text[] DEFAULT ARRAY['lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer'],
    stage_source text DEFAULT NULL,
    spend regclass DEFAULT NULL,
    conversion_window interval DEFAULT '365 days',
    funnel_modes text DEFAULT 'crm_backfill',
    materialized boolean DEFAULT false,
    time_zone text DEFAULT NULL,
    money_decimals integer DEFAULT 2,
    change_detection text DEFAULT 'triggers')
RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p CONSTANT text := 'HubSpot';
    contact regclass; deal regclass; dc regclass; dps regclass; cph regclass;
    not_deleted text := 'true';
    won_sql text := NULL;
    customer_col text;
    st text;
    col text;
    parts text[] := '{}';
    leads_sql text; events_sql text; raw_sql text; open_sql text;
    v_leads regclass; v_events regclass;
    own regclass; owner_expr text;
BEGIN
    contact := @extschema@._lk_rel(p, hubspot_schema, 'contact', true);
    deal    := @extschema@._lk_rel(p, hubspot_schema, 'deal', false);
    dc      := @extschema@._lk_rel(p, hubspot_schema, 'deal_contact', false);
    dps     := @extschema@._lk_rel(p, hubspot_schema, 'deal_pipeline_stage', false);
    cph     := @extschema@._lk_rel(p, hubspot_schema, 'contact_property_history', false);
    IF stage_source IS NOT NULL AND stage_source NOT IN ('columns', 'history') THEN
        RAISE EXCEPTION 'leadkpi: HubSpot preset: stage_source must be columns, history or NULL, not %', quote_literal(stage_source)
            USING ERRCODE = '22023', HINT = 'NULL picks the property_hs_lifecyclestage_<stage>_date columns when contact has any, else contact_property_history.';
    END IF;
    PERFORM @extschema@._lk_type(p, contact, c) FROM unnest(ARRAY['id', 'property_createdate']) AS c;
    -- live contacts: not deleted, and not merged into another contact (whose
    -- property_hs_merged_object_ids lists it), as dbt_hubspot counts them
    not_deleted := @extschema@._lk_live(p, contact, 'ct');
    IF @extschema@._lk_type(p, contact, 'property_hs_merged_object_ids', false) IS NOT NULL THEN
        not_deleted := format('%s AND ct.id::text <> ALL (ARRAY(SELECT btrim(x) FROM %s AS m, '
                              'unnest(string_to_array(m.property_hs_merged_object_ids::text, '';'')) AS x WHERE %s))',
                              not_deleted, contact, @extschema@._lk_live(p, contact, 'm'));
    END IF;

    -- won deals: the deal's pipeline stage is closed_won; each deal counts
    -- once, for its lowest associated live contact id
    IF deal IS NOT NULL AND dc IS NOT NULL AND dps IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, deal, c) FROM unnest(ARRAY['deal_id', 'deal_pipeline_stage_id', 'property_amount', 'property_closedate']) AS c;
        PERFORM @extschema@._lk_type(p, dc, c) FROM unnest(ARRAY['deal_id', 'contact_id']) AS c;
        PERFORM @extschema@._lk_type(p, dps, c) FROM unnest(ARRAY['stage_id', 'closed_won']) AS c;
        won_sql := format(
            'SELECT w.contact_id, min(w.closed_at) AS won_at, sum(w.amount) AS amount FROM ('
            'SELECT DISTINCT ON (d.deal_id) dc.contact_id, %s AS closed_at, d.property_amount::numeric AS amount '
            'FROM %s AS d JOIN %s AS s ON s.stage_id = d.deal_pipeline_stage_id JOIN %s AS dc ON dc.deal_id = d.deal_id '
            'JOIN %s AS ct ON ct.id = dc.contact_id '
            'WHERE s.closed_won AND %s AND %s AND %s AND %s ORDER BY d.deal_id, dc.contact_id) AS w GROUP BY w.contact_id',
            @extschema@._lk_utc(p, deal, 'd', 'property_closedate'), deal, dps, dc, contact,
            @extschema@._lk_live(p, deal, 'd'), @extschema@._lk_live(p, dps, 's'), @extschema@._lk_live(p, dc, 'dc'), not_deleted);
        -- the amounts of the open deals (stage not closed: is_closed, else
        -- not closed_won), each deal once, for its lowest live contact: the
        -- expected revenue the forecast reads
        open_sql := format(
            'SELECT x.contact_id, sum(x.amount) AS amount FROM ('
            'SELECT DISTINCT ON (d.deal_id) dc.contact_id, d.property_amount::numeric AS amount '
            'FROM %s AS d JOIN %s AS s ON s.stage_id = d.deal_pipeline_stage_id JOIN %s AS dc ON dc.deal_id = d.deal_id '
            'JOIN %s AS ct ON ct.id = dc.contact_id '
            'WHERE s.closed_won IS NOT TRUE%s AND %s AND %s AND %s AND %s ORDER BY d.deal_id, dc.contact_id) AS x GROUP BY x.contact_id',
            deal, dps, dc, contact,
            CASE WHEN @extschema@._lk_type(p, dps, 'is_closed', false) IS NULL THEN '' ELSE ' AND s.is_closed IS NOT TRUE' END,
            @extschema@._lk_live(p, deal, 'd'), @extschema@._lk_live(p, dps, 's'), @extschema@._lk_live(p, dc, 'dc'), not_deleted);
    END IF;
    customer_col := @extschema@._lk_utc(p, contact, 'ct', 'property_hs_lifecyclestage_customer_date', false);
    -- the owner: contact.property_hubspot_owner_id -> owner (first and last
    -- name, else the e-mail), compared as text (the id is a number or text)
    own := @extschema@._lk_rel(p, hubspot_schema, 'owner', false);
    IF own IS NOT NULL AND @extschema@._lk_type(p, contact, 'property_hubspot_owner_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, own, c) FROM unnest(ARRAY['owner_id', 'first_name', 'last_name', 'email']) AS c;
        owner_expr := format('(SELECT coalesce(nullif(btrim(concat_ws('' '', o.first_name::text, o.last_name::text)), ''''), o.email::text) '
                             'FROM %s AS o WHERE o.owner_id::text = ct.property_hubspot_owner_id::text AND %s LIMIT 1)',
                             own, @extschema@._lk_live(p, own, 'o'));
    END IF;

    leads_sql := format(
        'SELECT ct.id::bigint AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
        '%s AS converted_at, NULL::timestamptz AS lost_at, %s AS revenue, %s AS expected_revenue%s FROM %s AS ct%s%s WHERE %s',
        @extschema@._lk_utc(p, contact, 'ct', 'property_createdate'),
        CASE WHEN @extschema@._lk_type(p, contact, 'property_hs_analytics_first_touch_converting_campaign', false) IS NULL THEN 'NULL::text'
             ELSE 'ct.property_hs_analytics_first_touch_converting_campaign::text' END,
        CASE WHEN @extschema@._lk_type(p, contact, 'property_hs_analytics_source', false) IS NULL THEN 'NULL::text'
             ELSE 'ct.property_hs_analytics_source::text' END,
        CASE WHEN won_sql IS NULL THEN coalesce(customer_col, 'NULL::timestamptz')
             ELSE format('coalesce(w.won_at, %s)', coalesce(customer_col, 'NULL')) END,
        CASE WHEN won_sql IS NULL THEN 'NULL::numeric' ELSE 'w.amount' END,
        CASE WHEN open_sql IS NULL THEN 'NULL::numeric' ELSE 'od.amount' END,
        CASE WHEN owner_expr IS NULL THEN '' ELSE format(', %s AS owner', owner_expr) END,
        contact,
        CASE WHEN won_sql IS NULL THEN '' ELSE format(' LEFT JOIN (%s) AS w ON w.contact_id = ct.id', won_sql) END,
        CASE WHEN open_sql IS NULL THEN '' ELSE format(' LEFT JOIN (%s) AS od ON od.contact_id = ct.id', open_sql) END,
        not_deleted);

    -- lifecycle stages: one entry-date column per stage, or the property log
    FOREACH st IN ARRAY coalesce(stages, '{}') LOOP
        col := format('property_hs_lifecyclestage_%s_date', st);
        IF @extschema@._lk_type(p, contact, col, false) IS NOT NULL THEN
            parts := parts || format('SELECT ct.id::bigint AS lead_id, %L::text AS stage, %s AS occurred_at FROM %s AS ct WHERE ct.%I IS NOT NULL AND %s',
                                     st, @extschema@._lk_utc(p, contact, 'ct', col), contact, col, not_deleted);
        END IF;
    END LOOP;
    IF stage_source = 'columns' AND cardinality(parts) = 0 THEN
        RAISE EXCEPTION 'leadkpi: HubSpot preset: % has no property_hs_lifecyclestage_<stage>_date column for the stages %', contact, stages
            USING ERRCODE = '42703', HINT = 'Use stage_source => ''history'' (contact_property_history), or check the stage names.';
    END IF;
    IF stage_source = 'history' OR (stage_source IS NULL AND cardinality(parts) = 0 AND cph IS NOT NULL) THEN
        IF cph IS NULL THEN
            PERFORM @extschema@._lk_rel(p, hubspot_schema, 'contact_property_history', true);
        END IF;
        PERFORM @extschema@._lk_type(p, cph, c) FROM unnest(ARRAY['contact_id', 'name', 'value', 'timestamp']) AS c;
        -- the history of live contacts only, like the leads
        events_sql := format(
            'SELECT h.contact_id::bigint AS lead_id, h.value::text AS stage, min(%s) AS occurred_at FROM %s AS h '
            'JOIN %s AS ct ON ct.id = h.contact_id '
            'WHERE h.name = ''lifecyclestage'' AND h.value = ANY (%L::text[]) AND %s GROUP BY 1, 2',
            @extschema@._lk_utc(p, cph, 'h', 'timestamp'), cph, contact, stages, not_deleted);
        raw_sql := format('SELECT h.value::text AS stage FROM %s AS h WHERE h.name = ''lifecyclestage''', cph);
    ELSIF cardinality(parts) > 0 THEN
        events_sql := array_to_string(parts, ' UNION ALL ');
        -- every lifecycle stage date column of contact that has a value
        SELECT string_agg(format('SELECT %L AS stage WHERE EXISTS (SELECT FROM %s AS ct WHERE ct.%I IS NOT NULL AND %s)',
                                 substring(a.attname FROM '^property_hs_lifecyclestage_(.*)_date$'), contact, a.attname, not_deleted),
                          ' UNION ALL ')
          INTO raw_sql
          FROM pg_attribute a
         WHERE a.attrelid = contact AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname ~ '^property_hs_lifecyclestage_.*_date$';
    END IF;

    PERFORM @extschema@._lk_check_change_detection(p, change_detection);
    PERFORM @extschema@._lk_preset_prepare(target_schema);
    v_leads := @extschema@._lk_canonical(target_schema, 'canonical_leads', leads_sql,
        format('leads from HubSpot %s: converted = first won deal (closed_won stage) at property_closedate, else the customer lifecycle date', contact));
    RETURN NEXT v_leads;
    IF events_sql IS NOT NULL THEN
        v_events := @extschema@._lk_canonical(target_schema, 'canonical_stage_events', events_sql,
            format('lifecycle stage events from HubSpot %s, stages %s',
                   CASE WHEN cardinality(parts) > 0 AND stage_source IS DISTINCT FROM 'history' THEN contact::text || ' (property_hs_lifecyclestage_<stage>_date)'
                        ELSE cph::text || ' (lifecyclestage)' END, stages));
        RETURN NEXT v_events;
    END IF;
    PERFORM @extschema@._lk_preset_stages(p,
        CASE WHEN events_sql IS NULL THEN format('%s (no property_hs_lifecyclestage_<stage>_date column for the stages, no contact_property_history)', contact)
             WHEN cardinality(parts) > 0 AND stage_source IS DISTINCT FROM 'history' THEN contact::text
             ELSE cph::text END,
        raw_sql, stages,
        'The stages must match HubSpot''s internal lifecycle stage values (e.g. marketingqualifiedlead), and contact_property_history needs rows named lifecyclestage.');
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => spend,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone, money_decimals => money_decimals,
        watch => CASE WHEN materialized THEN @extschema@._lk_hubspot_watch(contact, CASE WHEN won_sql IS NOT NULL THEN deal END, dc, dps,
                     CASE WHEN events_sql IS NOT NULL AND (cardinality(parts) = 0 OR stage_source = 'history') THEN cph END,
                     change_detection)
                     -- a renamed owner moves their contacts
                     || (SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
                            (@extschema@._lk_watch_entry(CASE WHEN owner_expr IS NOT NULL THEN own END, 'lead_ids',
                                 format('SELECT ct.id FROM %s AS ct WHERE ct.property_hubspot_owner_id::text IN (SELECT owner_id::text FROM changed)', contact),
                                 change_detection, '{_fivetran_synced}'))) AS v(w)) END);
    PERFORM set_config('leadkpi.stages_reported', '', true);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_hubspot(name, name, text[], text, regclass, interval, text, boolean, text, integer, text) IS
'HubSpot (Fivetran) preset: canonical views over contact (lifecycle stage date columns) or contact_property_history, and deal, deal_contact, deal_pipeline_stage in hubspot_schema, then create_reports() in target_schema; materialized reports watch those tables (change_detection: triggers, columns (_fivetran_synced) or none). See doc/crm.md.';

-- What materialized HubSpot reports watch, and how a changed row maps to
-- the contact ids it touches (NULL tables are not read).  A contact also
-- touches the contacts its merged ids list (they are left out or come
-- back) and those sharing a deal with it (a deal counts for its lowest live
-- contact).
CREATE OR REPLACE FUNCTION @extschema@._lk_hubspot_watch(
    contact regclass, deal regclass, dc regclass, dps regclass, cph regclass, change_detection text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols CONSTANT text[] := '{_fivetran_synced}';
    contacts text := 'SELECT id FROM changed';
    deal_contacts text;
BEGIN
    IF @extschema@._lk_type('HubSpot', contact, 'property_hs_merged_object_ids', false) IS NOT NULL THEN
        contacts := contacts || ' UNION ALL SELECT btrim(x)::bigint FROM changed, '
                             || 'unnest(string_to_array(changed.property_hs_merged_object_ids::text, '';'')) AS x WHERE btrim(x) ~ ''^[0-9]+$''';
    END IF;
    IF deal IS NOT NULL THEN
        deal_contacts := format('SELECT dc.contact_id FROM %s AS dc WHERE dc.deal_id IN (SELECT deal_id FROM changed)', dc);
        contacts := contacts || format(' UNION ALL SELECT b.contact_id FROM %1$s AS a JOIN %1$s AS b ON b.deal_id = a.deal_id '
                                       'WHERE a.contact_id IN (SELECT id FROM changed)', dc);
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
        (@extschema@._lk_watch_entry(contact, 'lead_ids', contacts, change_detection, cols)),
        (@extschema@._lk_watch_entry(deal, 'lead_ids', deal_contacts, change_detection, cols)),
        (@extschema@._lk_watch_entry(CASE WHEN deal IS NOT NULL THEN dc END, 'lead_ids',
                                     deal_contacts || ' UNION ALL SELECT contact_id FROM changed', change_detection, cols)),
        (@extschema@._lk_watch_entry(CASE WHEN deal IS NOT NULL THEN dps END, 'lead_ids',
            format('SELECT dc.contact_id FROM %s AS d JOIN %s AS dc ON dc.deal_id = d.deal_id '
                   'WHERE d.deal_pipeline_stage_id IN (SELECT stage_id FROM changed)', deal, dc), change_detection, cols)),
        (@extschema@._lk_watch_entry(cph, 'events_only', 'SELECT contact_id FROM changed', change_detection, cols))
    ) AS v(w));
END;
$$;
COMMENT ON FUNCTION @extschema@._lk_hubspot_watch(regclass, regclass, regclass, regclass, regclass, text) IS
'leadkpi internal: the watch list of materialized HubSpot reports: the CRM tables and how a changed row maps to contact ids';
