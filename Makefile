# leadkpi: PGXS build. `make test`, `make demo` and `make bench` run against a
# throwaway cluster; see test/harness.sh.
EXTENSION  = leadkpi
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = leadkpi
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one file per layer, in this order.
SQL_PARTS  = sql/kpi.sql $(wildcard sql/funnel.sql) $(wildcard sql/reports.sql)
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*--*.sql))

# pg_regress reads test/sql/X.sql and compares with expected/X.out.
REGRESS      = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --outputdir=. --load-extension=$(EXTENSION)

PG_CPPFLAGS = -I$(srcdir)/src
override PG_CFLAGS += -Wall -Wextra

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

$(OBJS): $(wildcard src/*.h)

.PHONY: test demo bench
test:
	bash test/harness.sh test
demo:
	bash test/harness.sh demo
bench:
	bash test/harness.sh bench
