# test/hardening/suite.sh: sourced by check_memory.sh and check_asan.sh,
# after test/lib/cluster.sh, with $top the tree and PG_CONFIG the server.
#
# hs_build_copy [CFLAGS]: a copy of the tree in $LK_TMP/src (objects built
# against other headers or with other flags never mix with the normal
# build), built with CFLAGS and installed into a private install tree
# (PGBIN); the caller continues in the copy.
hs_build_copy() {
    mkdir -p "$LK_TMP/src"
    # the files of the working tree (tracked, and untracked but not ignored):
    # the TAP scripts read META.json, LICENSE, debian/
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z --cached --others --exclude-standard \
            | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$LK_TMP/src" -xf -
    else
        tar -C "$top" --exclude-vcs -cf - . | tar -C "$LK_TMP/src" -xf -
    fi
    cd "$LK_TMP/src"
    make -s clean >/dev/null 2>&1 || true
    PG_CFLAGS="${1:-}" lk_build
    lk_private_tree
}

# hs_wrap_postgres: bin/postgres of the private install becomes the script
# on stdin, which runs the real binary, bin/postgres.bin, its own way.
hs_wrap_postgres() {
    mv "$PGBIN/postgres" "$PGBIN/postgres.bin"
    cat > "$PGBIN/postgres"
    chmod 755 "$PGBIN/postgres"
    chown postgres:postgres "$PGBIN/postgres"
}

# hs_suite LABEL ONLY SKIP runs the whole test suite (pg_regress, pgTAP, the
# TAP scripts) against the cluster of PGHOST/PGPORT from the current tree,
# built with PG_CONFIG.  ONLY: a space-separated list of pg_regress/pgTAP
# files and TAP scripts (with .sh) to run instead of all; SKIP: TAP scripts to
# leave out (basenames).  Appends a line per part to results[], sets fail=1
# when a part fails, and times the parts in t_reg, t_tap, t_sh.
hs_suite() {
    local label=$1 only=$2 skip=$3 f s
    local regress=() tap=() scripts=()
    lk_log "pg_regress $label"
    rm -rf results regression.diffs regression.out
    for f in $only; do [ -f "test/sql/$f.sql" ] && regress+=("$f"); done
    if [ -n "$only" ] && [ ${#regress[@]} -eq 0 ]; then
        results+=("pg_regress: none selected")
    elif make -s installcheck PG_CONFIG="$PG_CONFIG" ${only:+REGRESS="${regress[*]:-}"}; then
        results+=("pg_regress: passed")
    else
        [ -f regression.diffs ] && head -100 regression.diffs
        results+=("pg_regress: FAILED"); fail=1
    fi
    t_reg=$(date +%s)

    lk_log "pgTAP $label"
    $PSQL -d postgres -c "CREATE DATABASE leadkpi_tap"
    $PSQL -d leadkpi_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION leadkpi;"
    if [ -n "$only" ]; then
        for f in $only; do [ -f "test/pgtap/$f.sql" ] && tap+=("test/pgtap/$f.sql"); done
    else
        tap=(test/pgtap/*.sql)
    fi
    if [ ${#tap[@]} -eq 0 ] || pg_prove -d leadkpi_tap --failures "${tap[@]}"; then
        results+=("pgTAP: passed (${#tap[@]} files)")
    else
        results+=("pgTAP: FAILED"); fail=1
    fi
    t_tap=$(date +%s)

    lk_log "TAP scripts $label"
    for s in test/t/*.sh; do
        case " $skip " in *" $(basename "$s") "*) lk_log "skipping $s"; continue ;; esac
        # with ONLY, the TAP scripts it names (realtime_crash.sh ...), no other
        if [ -n "$only" ]; then
            case " $only " in *" $(basename "$s") "*) ;; *) continue ;; esac
        fi
        scripts+=("$s")
    done
    # the TAP scripts read pg_config for their client tools: Debian's are fine
    if [ ${#scripts[@]} -eq 0 ] || PATH=/usr/bin:$PATH prove --exec bash "${scripts[@]}"; then
        results+=("TAP scripts: passed (${#scripts[@]} scripts)")
    else
        results+=("TAP scripts: FAILED"); fail=1
    fi
    t_sh=$(date +%s)
}
