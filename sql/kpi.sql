-- leadkpi install script, assembled at build time from sql/kpi.sql,
-- sql/funnel.sql and the report layer (SQL_PARTS in the Makefile).

\echo Use "CREATE EXTENSION leadkpi" to load this file. \quit

-- The reports need PostgreSQL 15 (security_invoker views, NULLS NOT DISTINCT
-- indexes) and some functions use SQL-standard bodies (14): say so up front
-- rather than fail halfway with a syntax error.
DO $$
BEGIN
    IF current_setting('server_version_num')::int < 150000 THEN
        RAISE EXCEPTION 'leadkpi requires PostgreSQL 15 or later, this is %', current_setting('server_version')
            USING ERRCODE = 'feature_not_supported';
    END IF;
END
$$;

-- ===========================================================================
-- Layer 2: the kpi_summary type
-- ===========================================================================

CREATE TYPE kpi_summary;

CREATE FUNCTION kpi_summary_in(cstring) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_out(kpi_summary) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_recv(internal) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_send(kpi_summary) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE kpi_summary (
    INPUT = kpi_summary_in,
    OUTPUT = kpi_summary_out,
    RECEIVE = kpi_summary_recv,
    SEND = kpi_summary_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);

COMMENT ON TYPE kpi_summary IS
'Mergeable lead-KPI state: lead and conversion counts, exact cost and revenue sums, exact sales-cycle sum/min/max and a 1%-accurate cycle sketch. Build with kpi_agg/spend_agg, merge with rollup or +, read with accessors.';
COMMENT ON FUNCTION kpi_summary_in(cstring) IS 'Text input of kpi_summary; validates every field (SQLSTATE 22P02 on malformed input).';
COMMENT ON FUNCTION kpi_summary_out(kpi_summary) IS 'Text output of kpi_summary: a readable, exactly round-tripping form starting with the format version.';
COMMENT ON FUNCTION kpi_summary_recv(internal) IS 'Binary input of kpi_summary (COPY BINARY); validates every field.';
COMMENT ON FUNCTION kpi_summary_send(kpi_summary) IS 'Binary output of kpi_summary (COPY BINARY); also callable to get a summary''s bytes.';

CREATE FUNCTION kpi_summary_from_bytes(bytea) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION kpi_summary_from_bytes(bytea) IS 'A kpi_summary from its binary form (kpi_summary_send''s output); validates every field (22P02).';

-- Aggregate support functions -------------------------------------------------

CREATE FUNCTION kpi_summary_combine(kpi_summary, kpi_summary) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_final(kpi_summary) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, timestamptz, timestamptz) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, timestamp, timestamp) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, date, date) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_date_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, timestamptz, timestamptz, numeric) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, timestamp, timestamp, numeric) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION kpi_agg_accum(kpi_summary, date, date, numeric) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'kpi_agg_date_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION spend_agg_accum(kpi_summary, numeric) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION kpi_summary_combine(kpi_summary, kpi_summary) IS 'Support: combine function of every kpi_summary aggregate, and rollup''s transition.';
COMMENT ON FUNCTION kpi_summary_final(kpi_summary) IS 'Support: final function of kpi_agg, spend_agg and rollup (drops spare capacity).';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, timestamptz, timestamptz) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, timestamp, timestamp) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, date, date) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, timestamptz, timestamptz, numeric) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, timestamp, timestamp, numeric) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION kpi_agg_accum(kpi_summary, date, date, numeric) IS 'Support: transition function of kpi_agg.';
COMMENT ON FUNCTION spend_agg_accum(kpi_summary, numeric) IS 'Support: transition function of spend_agg.';

-- Constructors and rollup -----------------------------------------------------

CREATE AGGREGATE kpi_agg(first_contact timestamptz, converted_at timestamptz) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE kpi_agg(first_contact timestamp, converted_at timestamp) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE kpi_agg(first_contact date, converted_at date) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE kpi_agg(first_contact timestamptz, converted_at timestamptz, revenue numeric) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE kpi_agg(first_contact timestamp, converted_at timestamp, revenue numeric) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE kpi_agg(first_contact date, converted_at date, revenue numeric) (
    SFUNC = kpi_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE spend_agg(cost numeric) (
    SFUNC = spend_agg_accum, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE rollup(kpi_summary) (
    SFUNC = kpi_summary_combine, STYPE = kpi_summary, FINALFUNC = kpi_summary_final,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE kpi_agg(timestamptz, timestamptz) IS
'KPI summary of leads, one row per lead. A row is a lead when first_contact is not NULL; it converted when converted_at is not NULL. A conversion dated before its first contact counts as a conversion but is excluded from cycle figures (see cycles_excluded). Infinite timestamps are an error. NULL over no rows.';
COMMENT ON AGGREGATE kpi_agg(timestamp, timestamp) IS 'KPI summary of leads (timestamp without time zone: cycles are wall-clock differences). See kpi_agg(timestamptz, timestamptz).';
COMMENT ON AGGREGATE kpi_agg(date, date) IS 'KPI summary of leads (dates: cycles in whole days). See kpi_agg(timestamptz, timestamptz).';
COMMENT ON AGGREGATE kpi_agg(timestamptz, timestamptz, numeric) IS 'KPI summary of leads with the order or deal value; revenue is summed exactly over converted leads only, NULL values skipped.';
COMMENT ON AGGREGATE kpi_agg(timestamp, timestamp, numeric) IS 'KPI summary of leads with revenue (timestamp without time zone).';
COMMENT ON AGGREGATE kpi_agg(date, date, numeric) IS 'KPI summary of leads with revenue (dates).';
COMMENT ON AGGREGATE spend_agg(numeric) IS 'KPI summary holding only cost, from spend rows: exact sum, NULLs skipped, negative amounts (credits) allowed; NaN and infinity are errors.';
COMMENT ON AGGREGATE rollup(kpi_summary) IS 'Merges kpi_summary values exactly (associative and commutative): the result equals the summary built from all underlying rows at once.';

CREATE FUNCTION kpi_summary_add(kpi_summary, kpi_summary) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION kpi_summary_add(kpi_summary, kpi_summary) IS 'Merges two summaries, as rollup does; the function behind kpi_summary + kpi_summary.';
CREATE OPERATOR + (LEFTARG = kpi_summary, RIGHTARG = kpi_summary,
                   FUNCTION = kpi_summary_add, COMMUTATOR = +);
COMMENT ON OPERATOR + (kpi_summary, kpi_summary) IS 'Merges two KPI summaries; NULL if either is NULL (use rollup() to skip NULLs).';

-- Equality (same summary: same figures and the same printed form) and the
-- hash opclass behind it, so that DISTINCT, UNION and GROUP BY work on kpi_summary.
CREATE FUNCTION kpi_summary_eq(kpi_summary, kpi_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_ne(kpi_summary, kpi_summary) RETURNS boolean
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION kpi_summary_hash(kpi_summary) RETURNS integer
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR = (LEFTARG = kpi_summary, RIGHTARG = kpi_summary, FUNCTION = kpi_summary_eq,
                   COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel, HASHES);
CREATE OPERATOR <> (LEFTARG = kpi_summary, RIGHTARG = kpi_summary, FUNCTION = kpi_summary_ne,
                    COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR CLASS kpi_summary_hash_ops DEFAULT FOR TYPE kpi_summary USING hash AS
    OPERATOR 1 = (kpi_summary, kpi_summary), FUNCTION 1 kpi_summary_hash(kpi_summary);
COMMENT ON FUNCTION kpi_summary_eq(kpi_summary, kpi_summary) IS 'Support: kpi_summary = kpi_summary.';
COMMENT ON FUNCTION kpi_summary_ne(kpi_summary, kpi_summary) IS 'Support: kpi_summary <> kpi_summary.';
COMMENT ON FUNCTION kpi_summary_hash(kpi_summary) IS 'Support: hash of a kpi_summary, consistent with =.';
COMMENT ON OPERATOR = (kpi_summary, kpi_summary) IS 'True when both KPI summaries hold the same figures, i.e. print the same (amounts with the same scale). No ordering is defined.';
COMMENT ON OPERATOR <> (kpi_summary, kpi_summary) IS 'Negation of = for kpi_summary.';
COMMENT ON OPERATOR CLASS kpi_summary_hash_ops USING hash IS 'Hashing of kpi_summary, for DISTINCT, UNION, GROUP BY and hash joins.';
COMMENT ON OPERATOR FAMILY kpi_summary_hash_ops USING hash IS 'The family of kpi_summary_hash_ops (created with it).';

-- Accessors: every KPI is defined here, once ----------------------------------

CREATE FUNCTION leads(kpi_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'kpi_leads' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION conversions(kpi_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'kpi_conversions' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cycles_excluded(kpi_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'kpi_cycles_excluded' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cost(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_cost' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION revenue(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_revenue' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION conversion_rate(kpi_summary) RETURNS double precision
    AS 'MODULE_PATHNAME', 'kpi_conversion_rate' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cost_per_lead(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_cost_per_lead' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cost_per_order(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_cost_per_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION revenue_per_lead(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_revenue_per_lead' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION roi(kpi_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'kpi_roi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_avg(kpi_summary) RETURNS interval
    AS 'MODULE_PATHNAME', 'kpi_sales_cycle_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_min(kpi_summary) RETURNS interval
    AS 'MODULE_PATHNAME', 'kpi_sales_cycle_min' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_max(kpi_summary) RETURNS interval
    AS 'MODULE_PATHNAME', 'kpi_sales_cycle_max' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_percentile(kpi_summary, fraction double precision) RETURNS interval
    AS 'MODULE_PATHNAME', 'kpi_sales_cycle_percentile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_median(kpi_summary) RETURNS interval
    AS 'MODULE_PATHNAME', 'kpi_sales_cycle_median' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION leads(kpi_summary) IS 'Number of leads (rows with a first contact).';
COMMENT ON FUNCTION conversions(kpi_summary) IS 'Number of converted leads (rows with a conversion time).';
COMMENT ON FUNCTION cycles_excluded(kpi_summary) IS 'Conversions dated before their first contact: counted as conversions, excluded from every sales-cycle figure.';
COMMENT ON FUNCTION cost(kpi_summary) IS 'Exact total cost; NULL when no spend was merged in (unknown, not zero).';
COMMENT ON FUNCTION revenue(kpi_summary) IS 'Exact total revenue of converted leads; NULL when no revenue was given.';
COMMENT ON FUNCTION conversion_rate(kpi_summary) IS 'conversions / leads as a fraction in [0, 1]; NULL without leads.';
COMMENT ON FUNCTION cost_per_lead(kpi_summary) IS 'cost / leads in numeric, as sum(cost) / sum(leads) computes it; NULL without cost or without leads.';
COMMENT ON FUNCTION cost_per_order(kpi_summary) IS 'cost / conversions in numeric; NULL without cost or without conversions.';
COMMENT ON FUNCTION revenue_per_lead(kpi_summary) IS 'revenue / leads in numeric; NULL without revenue or without leads.';
COMMENT ON FUNCTION roi(kpi_summary) IS 'Return on spend, (revenue - cost) / cost; NULL without revenue, without cost, or at zero cost.';
COMMENT ON FUNCTION sales_cycle_avg(kpi_summary) IS 'Mean time from first contact to conversion, exact, rounded to the microsecond; expressed in 24-hour days, no months; NULL without cycles.';
COMMENT ON FUNCTION sales_cycle_min(kpi_summary) IS 'Shortest sales cycle (exact); NULL without cycles.';
COMMENT ON FUNCTION sales_cycle_max(kpi_summary) IS 'Longest sales cycle (exact); NULL without cycles.';
COMMENT ON FUNCTION sales_cycle_percentile(kpi_summary, double precision) IS 'Sales-cycle percentile (0..1), interpolated like percentile_cont, within 1% relative error of it; NULL without cycles.';
COMMENT ON FUNCTION sales_cycle_median(kpi_summary) IS 'Median sales cycle, within 1% relative error of percentile_cont(0.5); NULL without cycles.';

-- ===========================================================================
-- Layer 1: one-step aggregates. Their state is a sketch-less kpi_summary,
-- their combine function rollup's, their final function the accessor above.
-- Where a row with a NULL is skipped whole, the transition function is STRICT
-- and starts from an empty summary, so the executor skips those rows without
-- a call (90% of the rows of sales_cycle_avg over all leads).
-- ===========================================================================

CREATE FUNCTION conversion_rate_accum(kpi_summary, boolean) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION conversion_rate_accum(kpi_summary, bigint, bigint) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'conversion_rate_counts_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_accum(kpi_summary, timestamptz, timestamptz) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'sales_cycle_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_accum(kpi_summary, timestamp, timestamp) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'sales_cycle_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sales_cycle_accum(kpi_summary, date, date) RETURNS kpi_summary
    AS 'MODULE_PATHNAME', 'sales_cycle_date_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cost_per_lead_accum(kpi_summary, numeric, bigint) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION cost_per_order_accum(kpi_summary, numeric, bigint) RETURNS kpi_summary
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION conversion_rate_accum(kpi_summary, boolean) IS 'Support: transition function of conversion_rate(boolean).';
COMMENT ON FUNCTION conversion_rate_accum(kpi_summary, bigint, bigint) IS 'Support: transition function of conversion_rate(bigint, bigint).';
COMMENT ON FUNCTION sales_cycle_accum(kpi_summary, timestamptz, timestamptz) IS 'Support: transition function of sales_cycle_avg.';
COMMENT ON FUNCTION sales_cycle_accum(kpi_summary, timestamp, timestamp) IS 'Support: transition function of sales_cycle_avg.';
COMMENT ON FUNCTION sales_cycle_accum(kpi_summary, date, date) IS 'Support: transition function of sales_cycle_avg.';
COMMENT ON FUNCTION cost_per_lead_accum(kpi_summary, numeric, bigint) IS 'Support: transition function of cost_per_lead.';
COMMENT ON FUNCTION cost_per_order_accum(kpi_summary, numeric, bigint) IS 'Support: transition function of cost_per_order.';

CREATE AGGREGATE conversion_rate(converted boolean) (
    INITCOND = 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=none',
    SFUNC = conversion_rate_accum, STYPE = kpi_summary, FINALFUNC = conversion_rate,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE conversion_rate(converted bigint, total bigint) (
    INITCOND = 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=none',
    SFUNC = conversion_rate_accum, STYPE = kpi_summary, FINALFUNC = conversion_rate,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE sales_cycle_avg(first_contact timestamptz, closed_at timestamptz) (
    INITCOND = 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=none',
    SFUNC = sales_cycle_accum, STYPE = kpi_summary, FINALFUNC = sales_cycle_avg,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE sales_cycle_avg(first_contact timestamp, closed_at timestamp) (
    INITCOND = 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=none',
    SFUNC = sales_cycle_accum, STYPE = kpi_summary, FINALFUNC = sales_cycle_avg,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE sales_cycle_avg(first_contact date, closed_at date) (
    INITCOND = 'v1 leads=0 conversions=0 cycles=0 excluded=0 cycle_sum_us=0 cycle_min_us=0 cycle_max_us=0 cost=null revenue=null sketch=none',
    SFUNC = sales_cycle_accum, STYPE = kpi_summary, FINALFUNC = sales_cycle_avg,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE cost_per_lead(cost numeric, leads bigint) (
    SFUNC = cost_per_lead_accum, STYPE = kpi_summary, FINALFUNC = cost_per_lead,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);
CREATE AGGREGATE cost_per_order(cost numeric, orders bigint) (
    SFUNC = cost_per_order_accum, STYPE = kpi_summary, FINALFUNC = cost_per_order,
    COMBINEFUNC = kpi_summary_combine, PARALLEL = SAFE);

COMMENT ON AGGREGATE conversion_rate(boolean) IS 'Share of non-NULL rows that are true, as a fraction in [0, 1]; NULL when there are none.';
COMMENT ON AGGREGATE conversion_rate(bigint, bigint) IS 'sum(converted) / sum(total) over pre-aggregated counts; rows with a NULL are skipped; NULL when the total is 0; a negative count or converted > total in a row is an error (22023).';
COMMENT ON AGGREGATE sales_cycle_avg(timestamptz, timestamptz) IS 'Mean of closed_at - first_contact (elapsed time, so DST-safe) over rows where both are set; closes before the first contact are excluded (count them with cycles_excluded(kpi_agg(...))); infinite timestamps are an error; NULL over no cycles.';
COMMENT ON AGGREGATE sales_cycle_avg(timestamp, timestamp) IS 'Mean of closed_at - first_contact for timestamps without time zone (wall-clock differences). See sales_cycle_avg(timestamptz, timestamptz).';
COMMENT ON AGGREGATE sales_cycle_avg(date, date) IS 'Mean of closed_at - first_contact in days, as an interval. See sales_cycle_avg(timestamptz, timestamptz).';
COMMENT ON AGGREGATE cost_per_lead(numeric, bigint) IS 'sum(cost) / sum(leads), exact numeric, a ratio of sums; NULL when the lead sum is 0; negative cost rows (credits, refunds) are allowed, a negative count is an error (22023).';
COMMENT ON AGGREGATE cost_per_order(numeric, bigint) IS 'sum(cost) / sum(orders), exact numeric, a ratio of sums; NULL when the order sum is 0; negative cost rows (credits, refunds) are allowed, a negative count is an error (22023).';
