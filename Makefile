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
                sql/reports/create.sql \
                sql/reports/refresh.sql \
                sql/presets/common.sql \
                sql/presets/odoo.sql \
                sql/presets/salesforce.sql \
                sql/presets/hubspot.sql
SQL_PARTS     = sql/kpi.sql sql/funnel.sql sql/report_store.sql $(REPORT_PARTS)
# and its upgrade from the last release: the hand-written delta of the core
# objects, then the parts that are wholly new and the report layer, both
# written with CREATE OR REPLACE so that they install and upgrade alike.
PREV_VERSION  = 0.1.0
UPGRADE_PARTS = sql/upgrade/$(PREV_VERSION)--$(EXTVERSION).sql sql/report_store.sql $(REPORT_PARTS)

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--$(PREV_VERSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress reads test/sql/X.sql and compares with expected/X.out.
REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
override PG_CFLAGS += -Wall -Wextra

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

# --- real-time reports (#11): the benchmark of incremental refreshes and live
# views (bench/realtime.sh, bench/README.md); never part of make test.
# RT_SCALES="500000 2000000 8000000" for the scaling table.
.PHONY: bench-realtime
bench-realtime:
	bash test/harness.sh run bench/realtime.sh
