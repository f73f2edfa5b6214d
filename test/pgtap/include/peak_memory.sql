-- The backend's own peak RSS (VmHWM, kB), recorded by step in peak, and the
-- growth between two steps.
CREATE FUNCTION pg_temp.peak_kb() RETURNS bigint LANGUAGE sql AS
$$ SELECT substring(pg_read_file('/proc/self/status') from 'VmHWM:\s*(\d+)')::bigint $$;
CREATE TEMP TABLE peak (what text PRIMARY KEY, kb bigint);
CREATE FUNCTION pg_temp.growth(a text, b text) RETURNS bigint LANGUAGE sql AS
$$ SELECT (SELECT kb FROM peak WHERE what = b) - (SELECT kb FROM peak WHERE what = a) $$;
