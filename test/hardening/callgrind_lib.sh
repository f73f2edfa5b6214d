# test/hardening/callgrind_lib.sh: what callgrind.sh and callgrind_close.sh
# share (sourced, with $top the tree).
#
# cg_start: builds the tree into a private install and starts cluster "cg"
# (PGHOST etc. exported, psql=(...) to make the data with).
cg_start() {
    cd "$top"
    . "$top/test/lib/cluster.sh"
    lk_packages 15
    command -v valgrind >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
    lk_build
    lk_private_tree
    lk_start cg 5432
    export PGHOST=$LK_TMP PGPORT=5432 PGUSER=postgres
    psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres)
}

# cg_stop: stops cluster "cg" once it holds the data (the queries run in
# single-user backends).
cg_stop() {
    lk_as_pg "$PGBIN/pg_ctl" -D "$LK_TMP/cg" -m fast -w stop >/dev/null
}

# cg_queries "name|table|query" ...: runs each query in a single-user backend
# under callgrind, counting only the executor (standard_ExecutorRun and what
# it calls: no parsing, planning or start-up), and prints its instructions
# and instructions per row of table.  CG_ONLY (a regex) picks queries by name;
# CG_OUT=dir keeps the callgrind files there (for callgrind_annotate).
cg_queries() {
    local q name table sql rows out ir
    mkdir -p "$LK_TMP/cgout"
    chown postgres "$LK_TMP/cgout"
    for q in "$@"; do
        IFS='|' read -r name table sql <<< "$q"
        if [ -n "${CG_ONLY:-}" ] && ! [[ $name =~ $CG_ONLY ]]; then continue; fi
        rows=$(lk_as_pg "$PGBIN/postgres" --single -D "$LK_TMP/cg" -c max_parallel_workers_per_gather=0 postgres \
               <<< "SELECT count(*) FROM $table" 2>/dev/null | sed -n 's/.*count = "\([0-9]*\)".*/\1/p')
        out="$LK_TMP/cgout/$name.out"
        # jit off and no parallel workers: one process does all the work
        lk_as_pg valgrind --tool=callgrind --toggle-collect=standard_ExecutorRun --callgrind-out-file="$out" \
            "$PGBIN/postgres" --single -D "$LK_TMP/cg" -c max_parallel_workers_per_gather=0 -c jit=off \
            -c work_mem=256MB postgres <<< "$sql" >"$LK_TMP/cgout/$name.log" 2>&1
        grep -q 'ERROR' "$LK_TMP/cgout/$name.log" && { sed -n '1,20p' "$LK_TMP/cgout/$name.log" >&2; exit 1; }
        ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$out")
        if [ -n "${CG_OUT:-}" ]; then mkdir -p "$CG_OUT"; cp "$out" "$CG_OUT/"; fi
        printf '%-28s %15s instructions  %8.1f per row (%s rows of %s)\n' "$name" \
            "$(printf "%'d" "$ir")" "$(echo "$ir / $rows" | bc -l)" "$rows" "$table"
    done
}
