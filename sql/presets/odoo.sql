
-----------------------------------------------------------------------------
-- Odoo preset: canonical views over Odoo's CRM tables (crm_lead, crm_stage,
-- utm_*, crm_team, res_users, res_partner, mail_tracking_value,
-- sale_order), then create_reports().  See
-- doc/crm.md.
-----------------------------------------------------------------------------

-- SQL reading the rate of currency cur on the day of at, as Odoo's
-- res.currency._get_rates reads it: the latest res_currency_rate on or
-- before that day, the company's own rates before the shared ones
-- (company_id NULL); before the first rate, the earliest one (Odoo 16+);
-- 1 where the currency has no rate at all.
CREATE OR REPLACE FUNCTION @extschema@._lk_odoo_rate(cur text, rate regclass, company text, at text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('coalesce((SELECT r.rate FROM %1$s AS r WHERE r.currency_id = %2$s AND r.name <= (%4$s AT TIME ZONE ''UTC'')::date '
              'AND (r.company_id IS NULL OR r.company_id = %3$s) ORDER BY r.company_id NULLS LAST, r.name DESC LIMIT 1), '
              '(SELECT r.rate FROM %1$s AS r WHERE r.currency_id = %2$s '
              'AND (r.company_id IS NULL OR r.company_id = %3$s) ORDER BY r.company_id NULLS LAST, r.name LIMIT 1), 1)',
              rate, cur, company, at);
COMMENT ON FUNCTION @extschema@._lk_odoo_rate(text, regclass, text, text) IS
'leadkpi internal: SQL reading an Odoo currency rate on a day from res_currency_rate, as Odoo reads it';

-- SQL converting an amount from the currency from_cur to the currency
-- target_id as Odoo's res.currency._convert does: times the target's rate
-- over the source's, both on the day of at (see _lk_odoo_rate).
CREATE OR REPLACE FUNCTION @extschema@._lk_odoo_convert(amount text, from_cur text, target_id bigint, rate regclass, company text, at text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN format('CASE WHEN %2$s = %3$s THEN %1$s ELSE %1$s * %4$s / %5$s END',
              amount, from_cur, target_id,
              @extschema@._lk_odoo_rate(target_id::text, rate, company, at),
              @extschema@._lk_odoo_rate(from_cur, rate, company, at));
COMMENT ON FUNCTION @extschema@._lk_odoo_convert(text, text, bigint, regclass, text, text) IS
'leadkpi internal: SQL converting an Odoo amount to another currency with res_currency_rate, as Odoo converts it';

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
    money_decimals integer DEFAULT 2,
    currency text DEFAULT NULL,
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
    leads_sql text; events_sql text; orders_sql text; raw_sql text;
    v_events regclass; v_orders regclass; v_leads regclass;
    all_stages text[];
    uses_leads boolean := false;
    in_pipeline text := 'true';
    pipeline_at text;
    lead_amount text; order_amount text;
    cur regclass; rate regclass; comp regclass;
    lead_cur text; order_cur text; target_id bigint; found text[];
    team regclass; users regclass; partner regclass; team_label text; owner_label text;
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
    -- the sales team (crm_team.name) and the salesperson (res_users ->
    -- res_partner.name), when the tables and crm_lead's columns are there
    team    := @extschema@._lk_rel(p, odoo_schema, 'crm_team', false);
    users   := @extschema@._lk_rel(p, odoo_schema, 'res_users', false);
    partner := @extschema@._lk_rel(p, odoo_schema, 'res_partner', false);
    IF team IS NOT NULL AND @extschema@._lk_type(p, lead, 'team_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, team, 'id');
        team_label := @extschema@._lk_label(p, team, 'tm', 'name', lang);
    END IF;
    IF users IS NOT NULL AND partner IS NOT NULL AND @extschema@._lk_type(p, lead, 'user_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, users, c) FROM unnest(ARRAY['id', 'partner_id']) AS c;
        PERFORM @extschema@._lk_type(p, partner, 'id');
        owner_label := @extschema@._lk_label(p, partner, 'up', 'name', lang);
    END IF;
    rev_col := CASE WHEN @extschema@._lk_type(p, lead, 'expected_revenue', false) IS NOT NULL THEN 'expected_revenue'
                    WHEN @extschema@._lk_type(p, lead, 'planned_revenue', false) IS NOT NULL THEN 'planned_revenue' END;

    -- leads and opportunities: with Odoo's Leads setting on, records start
    -- as type 'lead' and become opportunities at date_conversion.  Then the
    -- funnel starts with the steps Lead (create_date) and Opportunity
    -- (date_conversion, or create_date for a record created as an
    -- opportunity), and only opportunities enter the pipeline stages, the
    -- first at the time they became one.
    pipeline_at := @extschema@._lk_utc(p, lead, 'l', 'create_date');
    IF @extschema@._lk_type(p, lead, 'type', false) IS NOT NULL AND @extschema@._lk_type(p, lead, 'date_conversion', false) IS NOT NULL THEN
        EXECUTE format('SELECT EXISTS (SELECT FROM %s AS l WHERE l.type = ''lead'' OR l.date_conversion IS NOT NULL)', lead) INTO uses_leads;
    END IF;
    IF uses_leads THEN
        in_pipeline := 'l.type IS DISTINCT FROM ''lead''';
        pipeline_at := format('greatest(%s, coalesce(%s, %s))', pipeline_at, @extschema@._lk_utc(p, lead, 'l', 'date_conversion'), pipeline_at);
    END IF;

    -- the funnel stages: crm_stage names by sequence, each name once
    EXECUTE format('SELECT array_agg(label ORDER BY seq, label) FROM '
                   '(SELECT %s AS label, min(st.sequence) AS seq FROM %s AS st GROUP BY 1) AS x WHERE label IS NOT NULL',
                   stage_label, stage) INTO all_stages;
    IF uses_leads THEN
        all_stages := ARRAY['Lead', 'Opportunity'] || ARRAY(SELECT x FROM unnest(all_stages) WITH ORDINALITY AS t(x, i)
                                                          WHERE x NOT IN ('Lead', 'Opportunity') ORDER BY i);
    END IF;
    stages := coalesce(stages, all_stages);

    -- amounts: expected_revenue is in the lead's company currency, an order's
    -- amount_untaxed in its currency_id.  With Odoo's currency tables, they
    -- are converted to one currency as Odoo converts them (the rates of
    -- res_currency_rate on or before the date, the company's own rates
    -- first, the earliest before the first rate; see _lk_odoo_rate); amounts in several currencies without
    -- a currency to convert them to are an error, never added up raw.
    lead_amount := CASE WHEN rev_col IS NULL THEN NULL ELSE format('l.%I::numeric', rev_col) END;
    cur  := @extschema@._lk_rel(p, odoo_schema, 'res_currency', false);
    rate := @extschema@._lk_rel(p, odoo_schema, 'res_currency_rate', false);
    comp := @extschema@._lk_rel(p, odoo_schema, 'res_company', false);
    IF cur IS NOT NULL AND rate IS NOT NULL AND comp IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, cur, c) FROM unnest(ARRAY['id', 'name']) AS c;
        PERFORM @extschema@._lk_type(p, rate, c) FROM unnest(ARRAY['name', 'rate', 'currency_id', 'company_id']) AS c;
        PERFORM @extschema@._lk_type(p, comp, c) FROM unnest(ARRAY['id', 'currency_id']) AS c;
        -- a record without a company is in the main company's currency
        lead_cur := format('(SELECT cy.currency_id FROM %s AS cy WHERE cy.id = coalesce(%s, (SELECT min(id) FROM %s)))', comp,
                           CASE WHEN @extschema@._lk_type(p, lead, 'company_id', false) IS NULL THEN 'NULL' ELSE 'l.company_id' END, comp);
        IF so IS NOT NULL THEN
            order_cur := CASE WHEN @extschema@._lk_type(p, so, 'currency_id', false) IS NOT NULL THEN 'o.currency_id'
                              ELSE format('(SELECT cy.currency_id FROM %s AS cy WHERE cy.id = coalesce(%s, (SELECT min(id) FROM %s)))', comp,
                                          CASE WHEN @extschema@._lk_type(p, so, 'company_id', false) IS NULL THEN 'NULL' ELSE 'o.company_id' END, comp) END;
        END IF;
        IF currency IS NOT NULL THEN
            EXECUTE format('SELECT min(id) FROM %s WHERE name = $1', cur) INTO target_id USING currency;
            IF target_id IS NULL THEN
                RAISE EXCEPTION 'leadkpi: Odoo preset: currency % is not in %', quote_literal(currency), cur
                    USING ERRCODE = '22023', HINT = format('Pass the ISO code of a currency in %s.name, e.g. currency => ''EUR''.', cur);
            END IF;
        ELSE
            EXECUTE format('SELECT array_agg(DISTINCT cy.name::text ORDER BY cy.name::text) FROM (%s%s) AS x JOIN %s AS cy ON cy.id = x.c',
                           format('SELECT %s AS c FROM %s AS l WHERE %s IS NOT NULL', lead_cur, lead, coalesce(lead_amount, 'NULL')),
                           CASE WHEN order_cur IS NULL OR @extschema@._lk_type(p, so, 'opportunity_id', false) IS NULL THEN ''
                                ELSE format(' UNION SELECT %s FROM %s AS o WHERE o.opportunity_id IS NOT NULL AND o.state IN (''sale'', ''done'')',
                                            order_cur, so) END,
                           cur) INTO found;
            IF cardinality(found) > 1 THEN
                RAISE EXCEPTION 'leadkpi: Odoo preset: the amounts are in several currencies (%)', array_to_string(found, ', ')
                    USING ERRCODE = '22023',
                          HINT = format('Pass currency => %L (or another of them) to convert every amount with Odoo''s rates in %s.', found[1], rate);
            END IF;
            -- one currency (or none yet): later amounts in another one are converted to it
            EXECUTE format('SELECT coalesce((SELECT min(id) FROM %s WHERE name = $1), (SELECT currency_id FROM %s ORDER BY id LIMIT 1))', cur, comp)
               INTO target_id USING found[1];
        END IF;
        IF target_id IS NOT NULL AND lead_amount IS NOT NULL THEN
            lead_amount := @extschema@._lk_odoo_convert(lead_amount, lead_cur, target_id, rate,
                CASE WHEN @extschema@._lk_type(p, lead, 'company_id', false) IS NULL THEN 'NULL' ELSE 'l.company_id' END,
                format('coalesce(%s, %s)', @extschema@._lk_utc(p, lead, 'l', 'date_closed'), @extschema@._lk_utc(p, lead, 'l', 'create_date')));
        END IF;
    END IF;

    -- won: active, probability 100 and a stage flagged is_won (Odoo's own rule)
    won := 'l.active AND l.probability = 100 AND st.is_won';
    leads_sql := format(
        'SELECT l.id::bigint AS lead_id, %s AS first_contact_at, %s AS campaign, %s AS channel, '
        'CASE WHEN %s THEN coalesce(%s, %s) END AS converted_at, '
        'CASE WHEN NOT l.active AND l.probability = 0 THEN %s END AS lost_at, '
        '%s AS revenue, %s AS expected_revenue%s%s '
        'FROM %s AS l LEFT JOIN %s AS st ON st.id = l.stage_id%s%s%s%s%s',
        @extschema@._lk_utc(p, lead, 'l', 'create_date'),
        coalesce(camp_label, 'NULL::text'),
        CASE WHEN medium_label IS NULL AND source_label IS NULL THEN 'NULL::text'
             ELSE format('coalesce(%s, %s)', coalesce(medium_label, 'NULL'), coalesce(source_label, 'NULL')) END,
        won, @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        coalesce(@extschema@._lk_utc(p, lead, 'l', 'date_last_stage_update', false), 'NULL'),
        @extschema@._lk_utc(p, lead, 'l', 'date_closed'),
        CASE WHEN lead_amount IS NULL THEN 'NULL::numeric' ELSE format('CASE WHEN %s THEN %s END', won, lead_amount) END,
        -- the deal amount of every lead, read by the forecast for the open ones
        coalesce(lead_amount, 'NULL::numeric'),
        CASE WHEN team_label IS NULL THEN '' ELSE format(', %s AS team', team_label) END,
        CASE WHEN owner_label IS NULL THEN '' ELSE format(', %s AS owner', owner_label) END,
        lead, stage,
        CASE WHEN camp_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS ca ON ca.id = l.campaign_id', camp) END,
        CASE WHEN medium_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS me ON me.id = l.medium_id', medium) END,
        CASE WHEN source_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS so ON so.id = l.source_id', source) END,
        CASE WHEN team_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS tm ON tm.id = l.team_id', team) END,
        CASE WHEN owner_label IS NULL THEN ''
             ELSE format(' LEFT JOIN %s AS us ON us.id = l.user_id LEFT JOIN %s AS up ON up.id = us.partner_id', users, partner) END);

    -- stage history: mail_tracking_value rows of crm.lead's stage_id field
    IF mtv IS NOT NULL THEN
        mm  := @extschema@._lk_rel(p, odoo_schema, 'mail_message', true);
        imf := @extschema@._lk_rel(p, odoo_schema, 'ir_model_fields', true);
        field_col := CASE WHEN @extschema@._lk_type(p, mtv, 'field_id', false) IS NOT NULL THEN 'field_id' ELSE 'field' END;
        PERFORM @extschema@._lk_type(p, mtv, c) FROM unnest(ARRAY['mail_message_id', field_col, 'old_value_integer', 'new_value_integer']) AS c;
        PERFORM @extschema@._lk_type(p, mm, c) FROM unnest(ARRAY['id', 'model', 'res_id', 'date']) AS c;
        PERFORM @extschema@._lk_type(p, imf, c) FROM unnest(ARRAY['id', 'model', 'name']) AS c;
        raw_sql := format(
            'WITH tv AS (SELECT m.res_id AS lead_id, %s AS at, v.id AS tv_id, v.old_value_integer AS old_stage, '
            'v.new_value_integer AS new_stage FROM %s AS v JOIN %s AS m ON m.id = v.mail_message_id '
            'JOIN %s AS f ON f.id = v.%I WHERE m.model = ''crm.lead'' AND f.model = ''crm.lead'' AND f.name = ''stage_id''), '
            'ev AS ('
            -- the first stage, entered at creation (or at the conversion into
            -- an opportunity): the old value of the first change, else the current stage
            'SELECT l.id::bigint AS lead_id, %s AS stage, %s AS occurred_at FROM %s AS l '
            'LEFT JOIN LATERAL (SELECT tv.old_stage FROM tv WHERE tv.lead_id = l.id ORDER BY tv.at, tv.tv_id LIMIT 1) AS first ON true '
            'JOIN %s AS st ON st.id = coalesce(first.old_stage, l.stage_id) WHERE %s '
            'UNION ALL SELECT tv.lead_id::bigint, %s, tv.at FROM tv JOIN %s AS st ON st.id = tv.new_stage '
            'JOIN %s AS l ON l.id = tv.lead_id WHERE %s%s) '
            'SELECT lead_id, stage, occurred_at FROM ev',
            @extschema@._lk_utc(p, mm, 'm', 'date'), mtv, mm, imf, field_col,
            stage_label, pipeline_at, lead, stage, in_pipeline,
            stage_label, stage, lead, in_pipeline,
            CASE WHEN NOT uses_leads THEN '' ELSE format(
                ' UNION ALL SELECT l.id::bigint, ''Lead'', %s FROM %s AS l'
                ' UNION ALL SELECT l.id::bigint, ''Opportunity'', coalesce(%s, CASE WHEN %s THEN %s END) FROM %s AS l',
                @extschema@._lk_utc(p, lead, 'l', 'create_date'), lead,
                @extschema@._lk_utc(p, lead, 'l', 'date_conversion'), in_pipeline, @extschema@._lk_utc(p, lead, 'l', 'create_date'), lead) END);
        events_sql := format('SELECT lead_id, stage, occurred_at FROM (%s) AS e WHERE stage = ANY (%L::text[]) AND occurred_at IS NOT NULL',
                             raw_sql, stages);
    END IF;

    IF so IS NOT NULL AND @extschema@._lk_type(p, so, 'opportunity_id', false) IS NOT NULL THEN
        PERFORM @extschema@._lk_type(p, so, c) FROM unnest(ARRAY['date_order', 'amount_untaxed', 'state']) AS c;
        order_amount := 'o.amount_untaxed::numeric';
        IF target_id IS NOT NULL THEN
            order_amount := @extschema@._lk_odoo_convert(order_amount, order_cur, target_id, rate,
                CASE WHEN @extschema@._lk_type(p, so, 'company_id', false) IS NULL THEN 'NULL' ELSE 'o.company_id' END,
                @extschema@._lk_utc(p, so, 'o', 'date_order'));
        END IF;
        orders_sql := format(
            'SELECT o.opportunity_id::bigint AS lead_id, %s AS ordered_at, %s AS amount '
            'FROM %s AS o WHERE o.opportunity_id IS NOT NULL AND o.state IN (''sale'', ''done'')',
            @extschema@._lk_utc(p, so, 'o', 'date_order'), order_amount, so);
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
    PERFORM @extschema@._lk_preset_stages(p, coalesce(mtv::text || ' (crm.lead stage_id changes)',
                                                      format('schema %s (no mail_tracking_value)', quote_ident(odoo_schema))),
                                          raw_sql, stages,
                                          CASE WHEN raw_sql IS NULL
                                               THEN 'The funnel reads the chatter''s tracking of stage_id: replicate mail_tracking_value, mail_message and ir_model_fields into the same schema.'
                                               ELSE 'The stages must be crm_stage names (in the language lang), in funnel order.' END);
    IF orders_sql IS NOT NULL THEN
        v_orders := @extschema@._lk_canonical(target_schema, 'canonical_orders', orders_sql,
            format('orders from Odoo %s: confirmed (state sale or done), amount_untaxed', so));
        RETURN NEXT v_orders;
    END IF;
    RETURN QUERY SELECT * FROM @extschema@.create_reports(target_schema, v_leads,
        stage_events => v_events, spend => spend, orders => v_orders,
        stages => CASE WHEN v_events IS NULL THEN NULL ELSE stages END,
        conversion_window => conversion_window, funnel_modes => funnel_modes, materialized => materialized,
        time_zone => time_zone, money_decimals => money_decimals,
        watch => CASE WHEN materialized THEN @extschema@._lk_odoo_watch(lead, stage,
                     CASE WHEN camp_label IS NOT NULL THEN camp END, CASE WHEN medium_label IS NOT NULL THEN medium END,
                     CASE WHEN source_label IS NOT NULL THEN source END,
                     CASE WHEN events_sql IS NOT NULL THEN mtv END, mm, imf, CASE WHEN orders_sql IS NOT NULL THEN so END,
                     CASE WHEN target_id IS NOT NULL THEN ARRAY[cur, rate, comp] END, change_detection)
                     -- a renamed team or salesperson moves that team's or user's leads
                     || (SELECT coalesce(jsonb_agg(w) FILTER (WHERE w IS NOT NULL), '[]') FROM (VALUES
                         (@extschema@._lk_watch_entry(CASE WHEN team_label IS NOT NULL THEN team END, 'lead_ids',
                              format('SELECT l.id FROM %s AS l WHERE l.team_id IN (SELECT id FROM changed)', lead), change_detection, '{write_date}')),
                         (@extschema@._lk_watch_entry(CASE WHEN owner_label IS NOT NULL THEN users END, 'lead_ids',
                              format('SELECT l.id FROM %s AS l WHERE l.user_id IN (SELECT id FROM changed)', lead), change_detection, '{write_date}')),
                         (@extschema@._lk_watch_entry(CASE WHEN owner_label IS NOT NULL THEN partner END, 'lead_ids',
                              format('SELECT l.id FROM %s AS l JOIN %s AS us ON us.id = l.user_id WHERE us.partner_id IN (SELECT id FROM changed)', lead, users),
                              change_detection, '{write_date}'))) AS v(w)) END);
    PERFORM set_config('leadkpi.stages_reported', '', true);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_reports_odoo(name, name, text[], regclass, text, interval, text, boolean, text, integer, text, text) IS
'Odoo preset: canonical views over crm_lead, crm_stage, utm_*, crm_team, res_users, res_partner, mail_tracking_value and sale_order in odoo_schema, then create_reports() in target_schema; amounts in several currencies are converted to currency with res_currency_rate, or refused; materialized reports watch those tables (change_detection: triggers, columns (write_date) or none). See doc/crm.md.';

-- What materialized Odoo reports watch, and how a changed row maps to the
-- crm_lead ids it touches (NULL tables are not read).  Stage names and
-- is_won flags, and the stage_id field row, can change every lead: a full
-- rebuild; so can the currency tables (fx) when amounts are converted.
CREATE OR REPLACE FUNCTION @extschema@._lk_odoo_watch(
    lead regclass, stage regclass, camp regclass, medium regclass, source regclass,
    mtv regclass, mm regclass, imf regclass, so regclass, fx regclass[], change_detection text)
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
        (@extschema@._lk_watch_entry(so, 'lead_ids', 'SELECT opportunity_id FROM changed', change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(fx[1], 'rebuild', NULL, change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(fx[2], 'rebuild', NULL, change_detection, '{write_date}')),
        (@extschema@._lk_watch_entry(fx[3], 'rebuild', NULL, change_detection, '{write_date}'))
    ) AS v(w);
END;
COMMENT ON FUNCTION @extschema@._lk_odoo_watch(regclass, regclass, regclass, regclass, regclass, regclass, regclass, regclass, regclass, regclass[], text) IS
'leadkpi internal: the watch list of materialized Odoo reports: the CRM tables and how a changed row maps to crm_lead ids';
