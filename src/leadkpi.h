/*
 * leadkpi.h: declarations shared by leadkpi's C files: 128-bit helpers,
 * checked arithmetic on counts and durations, and error shortcuts.
 */
#ifndef LEADKPI_H
#define LEADKPI_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "leadkpi needs PostgreSQL 15 or later"
#endif

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
/* the varlena macros left postgres.h for varatt.h in PostgreSQL 16 */
#include "varatt.h"
#endif

/* PostgreSQL 16 moved the varlena macros (VARDATA_ANY, ...) out of postgres.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#ifndef HAVE_INT128
#error "leadkpi needs a compiler with a 128-bit integer type (gcc or clang)"
#endif

/*
 * PostgreSQL 18 replaced the trailing pg_attribute_noreturn() with the
 * leading pg_noreturn; before 18 only the former exists.  We write the
 * leading form, which both accept.
 */
#if PG_VERSION_NUM < 180000 && !defined(pg_noreturn)
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * 128-bit sums are plain int128 fields of our varlena types: c.h declares
 * int128 with MAXIMUM_ALIGNOF (8) alignment, which palloc'd and detoasted
 * varlena data always has, so the compiler never assumes 16-byte alignment.
 * On a little-endian machine an int128 field has the bytes of the
 * {uint64 lo; int64 hi} pair that 0.1.0 stored, so stored values read the
 * same (kpi_summary.c asserts the offsets).  On the wire an int128 is two
 * big-endian int64, high half first.
 */
extern void	  lk_send_int128(StringInfo buf, int128 v);
extern int128 lk_getmsg_int128(StringInfo buf);

/* Adds two counts; a count past int64 is an error, never a wraparound. */
static inline int64
lk_add_count(int64 a, int64 b)
{
	int64 r;

	if (unlikely(__builtin_add_overflow(a, b, &r)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("leadkpi count out of range"),
				 errdetail("A count exceeded the bigint range.")));
	return r;
}

/*
 * leadkpi.funnel_memory_limit (kB): the most memory one group of a funnel
 * aggregate may take, its transition state and its final function's work
 * space together.  See doc/funnel.md.
 */
extern int lk_funnel_memory_limit;

/*
 * Errors 54000 unless `bytes` fit in leadkpi.funnel_memory_limit; `fn` and
 * `events` (how many the group would then hold) go into the message.
 */
extern void lk_check_funnel_memory(const char *fn, Size bytes, int64 events);

/*
 * Whether arguments first..last of the aggregate call (0-based, as written)
 * are the same in every row: constants or external parameters.  false when
 * not known, e.g. for a window-function call, and then the transition
 * function compares each row's values with the first row's.  Worked out
 * once per query and kept in fn_extra: groups start often.
 */
extern bool lk_agg_args_const(FunctionCallInfo fcinfo, int first, int last);

/*
 * The start every combine function of our internal-state aggregates shares:
 * checks the context and reads both states.  When one is missing it sets *a
 * to the other (NULL for none) and returns false: return *a as it is.  The
 * second state comes from our deserialize function (partial states of
 * aggregates with a serial function are always serialized), is ours and is
 * not used after the call, so it may be adopted or freed.
 */
extern bool lk_combine_states(FunctionCallInfo fcinfo, const char *fn, void **a, void **b);

/* Microseconds from a to b, for finite timestamps; errors on infinity. */
extern int64 lk_timestamp_diff(Timestamp a, Timestamp b, const char *fn);

/* The same for dates, in whole days converted to microseconds. */
extern int64 lk_date_diff(int32 a, int32 b, const char *fn);

/* An interval of exactly `usec` microseconds: days of 24 hours, no months. */
extern Interval *lk_interval_from_usec(int64 usec);

/* Rounds num/den to the nearest integer, halves away from zero. den > 0. */
extern int64 lk_div_round(int128 num, int64 den);

/* Writes an int128 in decimal. */
extern void lk_append_int128(StringInfo buf, int128 v);

/*
 * Text-input helpers for our types: each consumes what it matched at *p and
 * returns true, or returns false and leaves *p alone.
 */
extern bool lk_parse_lit(const char **p, const char *lit);
/* A decimal integer, optionally negative, within [lo, hi]; no overflow. */
extern bool lk_parse_int128(const char **p, int128 *out, int128 lo, int128 hi);

static inline bool
lk_parse_int64(const char **p, int64 *out, int64 lo, int64 hi)
{
	int128 v;

	if (!lk_parse_int128(p, &v, lo, hi))
		return false;
	*out = (int64) v;
	return true;
}

/*
 * A read-only StringInfo over a bytea's bytes, for the pq_getmsg* readers of
 * our deserialize functions (PG 17 has this as initReadOnlyStringInfo).
 */
static inline void
lk_read_bytes(StringInfo buf, bytea *b)
{
#if PG_VERSION_NUM >= 170000
	initReadOnlyStringInfo(buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
#else
	buf->data = VARDATA_ANY(b);
	buf->len = VARSIZE_ANY_EXHDR(b);
	buf->maxlen = buf->len;
	buf->cursor = 0;
#endif
}

/*
 * Equality and hashing of our summary types, through their binary send
 * function: its output is canonical (fixed field order, no padding, no
 * spare or zero-count buckets), so two summaries are equal exactly when they
 * print the same, and equal summaries hash alike.
 */
extern bool	  lk_send_equal(PGFunction send, Datum a, Datum b);
extern uint32 lk_send_hash(PGFunction send, Datum a);

#endif /* LEADKPI_H */
