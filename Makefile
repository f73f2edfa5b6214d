# leadkpi: PGXS build. `make test`, `make demo` and `make bench` run against a
# throwaway cluster; see test/harness.sh.
EXTENSION  = leadkpi
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = leadkpi
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Released versions' scripts (sql/leadkpi--X.sql, sql/leadkpi--A--B.sql) are
# committed and never edited.  The script of the version in development is
# assembled from one file per concern, in this order: the core objects, then
# the report layer (its helpers, the phases of create_reports() in the order
# it runs them, refresh, then the presets).
REPORT_PARTS  = sql/reports/helpers.sql \
                sql/reports/validate.sql \
                sql/reports/queries.sql \
                sql/reports/canonical.sql \
                sql/reports/changes.sql \
                sql/reports/stores.sql \
                sql/reports/live.sql \
                sql/reports/kpi_reports.sql \
                sql/reports/funnel_reports.sql \
                sql/reports/forecast_reports.sql \
                sql/reports/create.sql \
                sql/reports/refresh.sql \
                sql/reports/html.sql \
                sql/presets/common.sql \
                sql/presets/odoo.sql \
                sql/presets/salesforce.sql \
                sql/presets/hubspot.sql
# Core objects that are wholly new in the version in development: in both
# the install and the upgrade script.
NEW_PARTS     = sql/charts.sql sql/forecast/close_summary.sql sql/forecast/forecast.sql \
                sql/forecast/backtest.sql sql/report_store.sql
SQL_PARTS     = sql/kpi.sql sql/funnel.sql $(NEW_PARTS) $(REPORT_PARTS)
# and its upgrade from the last release: the hand-written delta of the core
# objects, then the parts that are wholly new and the report layer, both
# written with CREATE OR REPLACE so that they install and upgrade alike.
PREV_VERSION  = 0.1.0
UPGRADE_PARTS = sql/upgrade/$(PREV_VERSION)--$(EXTVERSION).sql $(NEW_PARTS) $(REPORT_PARTS)

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--$(PREV_VERSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress reads test/sql/X.sql and compares with expected/X.out.
REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
# -Wextra without -Wunused-parameter: PostgreSQL's own headers (simplehash.h,
# bufpage.h through guc.h) have unused parameters.
override PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A fresh install creates, never replaces (PostgreSQL's advice for extension
# scripts); only the upgrade keeps CREATE OR REPLACE.
sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	sed 's/^CREATE OR REPLACE FUNCTION/CREATE FUNCTION/' $(SQL_PARTS) > $@

sql/$(EXTENSION)--$(PREV_VERSION)--$(EXTVERSION).sql: $(UPGRADE_PARTS) $(EXTENSION).control
	cat $(UPGRADE_PARTS) > $@

$(OBJS): $(wildcard src/*.h)

.PHONY: test demo bench
test:
	bash test/harness.sh test
demo:
	bash test/harness.sh demo
bench:
	bash test/harness.sh bench

# ---- hardening (issue 13): repeatable checks beyond `make test`; each runs
# on its own throwaway cluster.  See doc/testing.md for what each checks and
# how long it takes.
#   make check-memory      the whole suite under valgrind memcheck, on a
#                          PostgreSQL 15 built from Debian's source with
#                          assertions and USE_VALGRIND (cached, built once)
#   make fuzz              byte/text fuzzing of every input path and sqlsmith;
#                          FUZZ_N, SMITH_N, FUZZ_SEED; FUZZ_LONG=1 for the long
#                          run, CI_FULL=1 for it on the assertion-enabled server
#   make check-asan        the whole suite with leadkpi built with ASan and
#                          UBSan, libasan preloaded into Debian's server
#   make check-interrupts  cancel latency of the long aggregates
#   make check-limits      one funnel group of 100M events (LIMIT_EVENTS):
#                          54000 at leadkpi.funnel_memory_limit
.PHONY: check-memory check-asan fuzz check-interrupts check-limits
check-memory:
	bash test/hardening/check_memory.sh
check-asan:
	bash test/hardening/check_asan.sh
fuzz:
	bash test/fuzz/run.sh
check-interrupts:
	bash test/hardening/tap_run.sh test/hardening/interrupts.sh
check-limits:
	bash test/hardening/tap_run.sh test/hardening/limits.sh

# ---------------------------------------------------------------------------
# Install anywhere (#9): other PostgreSQL versions, a fresh machine, packages.
# Debian roots (debootstrap, cached in /var/cache/leadkpi/roots) come from
# test/roots.sh; see doc/install.md.  `make test PG=17` (or 18) runs the
# whole suite inside the root of that version (test/harness.sh hands it on).
.PHONY: test-all test-fresh test-packages dist roots
PACKAGE_PGS ?= 15 17 18
test-all:
	bash test/harness.sh test
	PG=17 bash test/harness.sh test
	PG=18 bash test/harness.sh test
# a new user's path: a clone of HEAD in a Debian 12 root with only
# postgresql-15, git, make and gcc; then `make demo` and `make test`
test-fresh:
	bash test/roots.sh fresh
# dpkg-buildpackage in the root of each version, install the .deb, use it
test-packages:
	for v in $(PACKAGE_PGS); do bash test/roots.sh packages $$v || exit 1; done
# leadkpi-$(EXTVERSION).zip and .tar.gz for PGXN (git archive of HEAD)
dist:
	bash test/dist.sh
# make (or refresh) every cached root ahead of time
roots:
	bash test/roots.sh build fresh pg15 pg17 pg18

# ---- report_html in a browser (issue 14), not part of `make test`.
#   make test-html   report_html() of four report schemas over the sample CRM
#                    in headless Chromium at 1280 and 390 px (no overflow,
#                    nothing cut off, no external request, no script run),
#                    tidy, and every figure shown against its view in psql.
#                    Installs chromium, tidy, nodejs, npm and playwright-core
#                    (test/html/package-lock.json; npm cache LEADKPI_NPM_CACHE,
#                    default /var/cache/leadkpi/npm).  Screenshots and the
#                    documents in test/html/out/ (HTML_OUT to change).
.PHONY: test-html
test-html:
	bash test/harness.sh run test/html/run.sh $(HTML_OUT)

# --- Example dashboard (examples/dashboard) and the README's screenshots -------
# make dashboard       the demo cluster with the sample CRM and its reports, and
#                      the Evidence dashboard over them at a printed local URL;
#                      Ctrl-C stops both.  DASHBOARD_DEV=1: Evidence's dev server.
# make test-dashboard  the dashboard in headless Chromium, every figure checked
#                      against the report views (psql); screenshots in
#                      examples/dashboard/test-results/.  npm packages are cached
#                      in /var/cache/leadkpi/npm.
# make check-dashboard-sql
#                      only the dashboard's source queries, run with psql
#                      against the demo reports (no npm, no browser; seconds)
# make screenshots     the README's PNGs, from the demo data, into doc/img/:
#                      dashboard.png (the dashboard, after its browser test),
#                      report.png (report_html) and psql-chart.png (funnel_chart
#                      and sparkline in psql).  A producer is a script that takes
#                      the output directory and runs against the harness's
#                      cluster (the demo database: examples/demo_db.sh); add
#                      yours to SCREENSHOT_PRODUCERS.  SCREENSHOT_PRODUCERS=
#                      "examples/screenshots/report.sh" makes only that one.
SCREENSHOT_PRODUCERS = examples/dashboard/screenshots.sh examples/screenshots/report.sh \
                       examples/screenshots/psql_chart.sh

.PHONY: dashboard test-dashboard check-dashboard-sql screenshots
dashboard:
	bash test/harness.sh run examples/dashboard/run.sh serve
test-dashboard:
	bash test/harness.sh run examples/dashboard/run.sh test
check-dashboard-sql:
	bash test/harness.sh run examples/dashboard/run.sh sql
screenshots:
	bash test/harness.sh run examples/screenshots/run.sh doc/img $(SCREENSHOT_PRODUCERS)

# ---- Citus: leadkpi on a coordinator and 2 workers (test/citus/, bench/citus.sh,
# doc/citus.md).  Uses an installed Citus, or builds one once from a source
# tarball into /var/cache/leadkpi/citus: make test-citus CITUS_SRC=.../citus-13.2.2.tar.xz
.PHONY: test-citus bench-citus
test-citus:
	CITUS_SRC="$(CITUS_SRC)" bash test/citus/run.sh test
bench-citus:
	CITUS_SRC="$(CITUS_SRC)" bash bench/citus.sh

# ---- format and lint --------------------------------------------------------
# make format  clang-format in place over src/ (.clang-format: close to pgindent)
# make lint    fails when `make format` would change anything, then cppcheck
#              and clang-tidy over src/ with PostgreSQL's server headers.
# Both install what they need on Debian when run as root (clang-format,
# clang-tidy, cppcheck, the server headers), as `make test` does.
#
# clang-tidy runs a short list of checks that find real bugs in C and stay
# quiet on PostgreSQL's macros: sizeof on the wrong thing, memset with its
# arguments swapped, memcmp/strcmp results used as booleans, int32 products
# widened after they overflowed, integer division in a floating-point
# context, signed char used as an integer, unparenthesised macro arguments,
# redundant expressions (x == x), and the clang static analyzer's core and
# unix checkers (null and undefined values, malloc/free misuse) plus dead
# stores.  cppcheck runs its warning, portability and performance classes.
LINT_SOURCES = $(sort $(wildcard src/*.c src/*.h))
LINT_INCLUDES = -I$(srcdir)/src -I$(shell $(PG_CONFIG) --includedir-server)
TIDY_CHECKS = -*,bugprone-sizeof-expression,bugprone-suspicious-memset-usage,bugprone-suspicious-string-compare,bugprone-misplaced-widening-cast,bugprone-integer-division,bugprone-signed-char-misuse,bugprone-macro-parentheses,misc-redundant-expression,clang-analyzer-core.*,clang-analyzer-unix.*,clang-analyzer-deadcode.DeadStores

.PHONY: format lint lint-tools
lint-tools:
	@need=""; \
	for t in clang-format:clang-format clang-tidy:clang-tidy cppcheck:cppcheck; do \
		command -v $${t%%:*} >/dev/null 2>&1 || need="$$need $${t#*:}"; done; \
	[ -f "$$($(PG_CONFIG) --includedir-server)/postgres.h" ] || \
		need="$$need postgresql-server-dev-$$($(PG_CONFIG) --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')"; \
	if [ -n "$$need" ]; then \
		if [ "$$(id -u)" -ne 0 ]; then echo "missing:$$need (apt-get install$$need)"; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	fi
format: lint-tools
	clang-format -i $(LINT_SOURCES)
lint: lint-tools
	clang-format --dry-run --Werror $(LINT_SOURCES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--std=c11 --inline-suppr --suppress=missingIncludeSystem -D__GNUC__ $(LINT_INCLUDES) \
		$(filter %.c,$(LINT_SOURCES))
	@echo "clang-tidy $(words $(filter %.c,$(LINT_SOURCES))) files"; \
	clang-tidy --quiet --warnings-as-errors='*' --checks='$(TIDY_CHECKS)' \
		--header-filter='^$(CURDIR)/src/' $(filter %.c,$(LINT_SOURCES)) -- $(LINT_INCLUDES) \
		> lint-tidy.log 2>&1; rc=$$?; \
	grep -v -e 'warnings\? generated\.$$' -e '^Suppressed [0-9]* warnings' -e '^Use -header-filter' lint-tidy.log; \
	rm -f lint-tidy.log; exit $$rc

# --- real-time reports (#11): the benchmark of incremental refreshes and live
# views (bench/realtime.sh, bench/README.md); never part of make test.
# RT_SCALES="500000 2000000 8000000" for the scaling table.
.PHONY: bench-realtime
bench-realtime:
	bash test/harness.sh run bench/realtime.sh
