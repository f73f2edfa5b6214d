-- The catalog entries of the leadkpi extension as rows (kind, identity,
-- attribute, value), for test/t/upgrade.sh, which compares an upgraded
-- install with a fresh one attribute by attribute.  Creates the temporary
-- view lk_catalog.  Covers every member of the extension (pg_depend 'e'):
-- functions and aggregates, operators, operator classes and families (with
-- their operators and support functions), types, casts, relations, schemas,
-- and every member's COMMENT and ACL.  Object names print as the search_path
-- shows them; both databases are read with the same one.
CREATE TEMP VIEW lk_catalog AS
WITH ext AS (
    SELECT * FROM pg_extension WHERE extname = 'leadkpi'
), m AS (
    SELECT d.classid, d.objid, d.objsubid, i.type, i.identity
    FROM pg_depend d, ext, LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) i
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), rows(kind, identity, attr, value) AS (
    -- the extension itself
    SELECT 'extension', 'leadkpi', a, v
    FROM ext, LATERAL (VALUES ('version', extversion), ('relocatable', extrelocatable::text),
                              ('schema', extnamespace::regnamespace::text),
                              ('config', coalesce(extconfig::regclass[]::text, '')),
                              ('config_condition', coalesce(extcondition::text, ''))) x(a, v)
    -- every member: that it is one, its comment
    UNION ALL
    SELECT m.type, m.identity, 'member', 'yes' FROM m
    UNION ALL
    SELECT m.type, m.identity, 'comment', coalesce(d.description, '(none)')
    FROM m LEFT JOIN pg_description d
        ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid
    -- functions, procedures and aggregates
    UNION ALL
    SELECT m.type, m.identity, a, v
    FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_language l ON l.oid = p.prolang,
    LATERAL (VALUES
        ('arguments', pg_get_function_arguments(p.oid)),
        ('result', pg_get_function_result(p.oid)),
        ('volatility', p.provolatile::text),
        ('parallel', p.proparallel::text),
        ('strict', p.proisstrict::text),
        ('security_definer', p.prosecdef::text),
        ('leakproof', p.proleakproof::text),
        ('cost', p.procost::text),
        ('rows', p.prorows::text),
        ('support', p.prosupport::text),
        ('language', l.lanname),
        -- C functions: the symbol and library; others: the body
        ('source', CASE WHEN l.lanname = 'c' THEN p.prosrc || ' in ' || coalesce(p.probin, '')
                        WHEN l.lanname = 'internal' THEN p.prosrc
                        ELSE 'md5 ' || md5(coalesce(p.prosrc, '') || coalesce(pg_get_function_sqlbody(p.oid), '')) END),
        ('config', coalesce(p.proconfig::text, '')),
        ('acl', coalesce(p.proacl::text, '(default)'))) x(a, v)
    UNION ALL
    SELECT 'aggregate', m.identity, a, v
    FROM m JOIN pg_aggregate g ON m.classid = 'pg_proc'::regclass AND g.aggfnoid = m.objid,
    LATERAL (VALUES
        ('agg_kind', g.aggkind::text), ('agg_direct_args', g.aggnumdirectargs::text),
        ('transfn', g.aggtransfn::regprocedure::text), ('finalfn', g.aggfinalfn::regprocedure::text),
        ('combinefn', g.aggcombinefn::regprocedure::text), ('serialfn', g.aggserialfn::regprocedure::text),
        ('deserialfn', g.aggdeserialfn::regprocedure::text),
        ('mtransfn', g.aggmtransfn::regprocedure::text), ('minvtransfn', g.aggminvtransfn::regprocedure::text),
        ('mfinalfn', g.aggmfinalfn::regprocedure::text),
        ('finalextra', g.aggfinalextra::text), ('mfinalextra', g.aggmfinalextra::text),
        ('finalmodify', g.aggfinalmodify::text), ('mfinalmodify', g.aggmfinalmodify::text),
        ('sortop', g.aggsortop::regoperator::text),
        ('transtype', g.aggtranstype::regtype::text), ('transspace', g.aggtransspace::text),
        ('mtranstype', g.aggmtranstype::regtype::text), ('mtransspace', g.aggmtransspace::text),
        ('initval', coalesce(g.agginitval, '(null)')), ('minitval', coalesce(g.aggminitval, '(null)'))) x(a, v)
    -- operators
    UNION ALL
    SELECT 'operator', m.identity, a, v
    FROM m JOIN pg_operator o ON m.classid = 'pg_operator'::regclass AND o.oid = m.objid,
    LATERAL (VALUES
        ('kind', o.oprkind::text), ('result', o.oprresult::regtype::text),
        ('function', o.oprcode::regprocedure::text),
        ('commutator', o.oprcom::regoperator::text), ('negator', o.oprnegate::regoperator::text),
        ('restrict', o.oprrest::regproc::text), ('join', o.oprjoin::regproc::text),
        ('merges', o.oprcanmerge::text), ('hashes', o.oprcanhash::text)) x(a, v)
    -- operator classes and families, with their members
    UNION ALL
    SELECT 'operator class', m.identity, a, v
    FROM m JOIN pg_opclass c ON m.classid = 'pg_opclass'::regclass AND c.oid = m.objid
    JOIN pg_opfamily f ON f.oid = c.opcfamily,
    LATERAL (VALUES
        ('input_type', c.opcintype::regtype::text), ('default', c.opcdefault::text),
        ('key_type', c.opckeytype::regtype::text), ('family', f.opfname::text)) x(a, v)
    UNION ALL
    SELECT 'operator family', m.identity,
           format('operator %s (%s, %s)', ao.amopstrategy, ao.amoplefttype::regtype, ao.amoprighttype::regtype),
           format('%s purpose %s sortfamily %s', ao.amopopr::regoperator, ao.amoppurpose, ao.amopsortfamily)
    FROM m JOIN pg_amop ao ON m.classid = 'pg_opfamily'::regclass AND ao.amopfamily = m.objid
    UNION ALL
    SELECT 'operator family', m.identity,
           format('function %s (%s, %s)', ap.amprocnum, ap.amproclefttype::regtype, ap.amprocrighttype::regtype),
           ap.amproc::regprocedure::text
    FROM m JOIN pg_amproc ap ON m.classid = 'pg_opfamily'::regclass AND ap.amprocfamily = m.objid
    -- types and their I/O functions
    UNION ALL
    SELECT 'type', m.identity, a, v
    FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid,
    LATERAL (VALUES
        ('type', t.typtype::text), ('length', t.typlen::text), ('by_value', t.typbyval::text),
        ('align', t.typalign::text), ('storage', t.typstorage::text),
        ('category', t.typcategory::text), ('preferred', t.typispreferred::text),
        ('delimiter', t.typdelim::text), ('element', t.typelem::regtype::text),
        ('array', t.typarray::regtype::text), ('collation', t.typcollation::text),
        ('input', t.typinput::regprocedure::text), ('output', t.typoutput::regprocedure::text),
        ('receive', t.typreceive::regprocedure::text), ('send', t.typsend::regprocedure::text),
        ('typmod_in', t.typmodin::regprocedure::text), ('typmod_out', t.typmodout::regprocedure::text),
        ('analyze', t.typanalyze::regprocedure::text),
        ('subscript', t.typsubscript::regprocedure::text),
        ('base_type', t.typbasetype::regtype::text), ('not_null', t.typnotnull::text),
        ('default', coalesce(t.typdefault, '(null)')),
        ('acl', coalesce(t.typacl::text, '(default)'))) x(a, v)
    -- attributes of composite types and columns of relations
    UNION ALL
    SELECT CASE WHEN m.classid = 'pg_type'::regclass THEN 'type' ELSE m.type END, m.identity,
           format('column %s %s', att.attnum, att.attname),
           format_type(att.atttypid, att.atttypmod) || CASE WHEN att.attnotnull THEN ' not null' ELSE '' END
    FROM m JOIN pg_class c ON (m.classid = 'pg_class'::regclass AND c.oid = m.objid)
                           OR (m.classid = 'pg_type'::regclass AND c.reltype = m.objid AND c.relkind = 'c')
    JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
    -- relations (tables, views, sequences)
    UNION ALL
    SELECT m.type, m.identity, a, v
    FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid,
    LATERAL (VALUES
        ('kind', c.relkind::text), ('options', coalesce(c.reloptions::text, '')),
        ('definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END),
        ('acl', coalesce(c.relacl::text, '(default)'))) x(a, v)
    -- casts
    UNION ALL
    SELECT 'cast', m.identity, a, v
    FROM m JOIN pg_cast k ON m.classid = 'pg_cast'::regclass AND k.oid = m.objid,
    LATERAL (VALUES
        ('function', k.castfunc::regprocedure::text), ('context', k.castcontext::text),
        ('method', k.castmethod::text)) x(a, v)
    -- schemas
    UNION ALL
    SELECT 'schema', m.identity, 'acl', coalesce(n.nspacl::text, '(default)')
    FROM m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
)
SELECT kind, identity, attr, coalesce(value, '(null)') AS value FROM rows;
