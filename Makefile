# leadkpi: PGXS build. `make test`, `make demo` and `make bench` run against a
# throwaway cluster; see test/harness.sh.
EXTENSION  = leadkpi
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = leadkpi
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Released versions' scripts (sql/leadkpi--X.sql, sql/leadkpi--A--B.sql) are
# committed and never edited.  The script of the version in development is
# assembled from one file per concern, in this order:
SQL_PARTS     = sql/kpi.sql sql/funnel.sql sql/reports.sql
# and its upgrade from the last release: the hand-written delta of the core
# objects, then the parts that are wholly new and the report layer, both
# written with CREATE OR REPLACE so that they install and upgrade alike.
PREV_VERSION  = 0.1.0
UPGRADE_PARTS = sql/upgrade/$(PREV_VERSION)--$(EXTVERSION).sql sql/reports.sql

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
