/*
 * funnel_summary.c: the funnel_summary type (a whole funnel as a mergeable
 * value), its text and binary I/O, rollup, funnel_agg over per-entity levels
 * (which updates a summary in place) and the accessors.  funnel_agg over
 * events, which builds a summary from raw events, is in funnel_agg.c.
 */
#include "funnel_summary.h"

#include "libpq/pqformat.h"
#include "utils/builtins.h"

#define FS_SKETCHES(fs) \
	((char *) (fs) + offsetof(FunnelSummary, reached) + (fs)->nsteps * sizeof(int64))

/* Sketch of step k (1-based); walks the variable-size sketches before it. */
static LkSketch *
FsSketch(const FunnelSummary *fs, int k)
{
	char *p = FS_SKETCHES(fs);

	for (int i = 1; i < k; i++)
		p += LK_SKETCH_SIZE(((LkSketch *) p)->capacity);
	return (LkSketch *) p;
}

FunnelSummary *
fs_build(int nsteps, uint32 modes, int64 window, int64 entities,
		 const int64 *reached, LkSketch *const *sketches)
{
	Size		   size = offsetof(FunnelSummary, reached) + nsteps * sizeof(int64);
	FunnelSummary *fs;
	char		  *p;

	for (int k = 0; k < nsteps; k++)
		size += LK_SKETCH_SIZE(sketches && sketches[k] ? lk_sketch_used_buckets(sketches[k]) : 0);
	fs = palloc0(size);
	SET_VARSIZE(fs, size);
	fs->version = FS_VERSION;
	fs->nsteps = nsteps;
	fs->modes = modes;
	fs->window = window;
	fs->entities = entities;
	memcpy(fs->reached, reached, nsteps * sizeof(int64));
	p = FS_SKETCHES(fs);
	for (int k = 0; k < nsteps; k++)
	{
		LkSketch	   *dst = (LkSketch *) p;
		const LkSketch *src = sketches ? sketches[k] : NULL;

		if (src)
			lk_sketch_copy_used(dst, src);
		dst->capacity = dst->nbuckets;
		p += LK_SKETCH_SIZE(dst->capacity);
	}
	return fs;
}

/*
 * What every input path checks; NULL when valid, else a message.  `state`:
 * the value may be a transition state, whose sketches hold empty buckets
 * until the final function (a reader of it, e.g. Citus printing a partial
 * state); the text and binary forms are canonical and have none.
 */
static const char *
FsValidate(int nsteps, uint32 modes, int64 window, int64 entities,
		   const int64 *reached, LkSketch *const *sk, bool state)
{
	const char *msg;

	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		return "step count out of range";
	if ((msg = lk_funnel_modes_check(modes)) != NULL)
		return msg;
	if (window < -1)
		return "window out of range";
	if (entities < 0)
		return "negative entity count";
	for (int k = 0; k < nsteps; k++)
	{
		int64 prev = (k == 0) ? entities : reached[k - 1];

		if (reached[k] < 0 || reached[k] > prev)
			return "reached counts must not increase from step to step";
		if (sk[k])
		{
			if ((msg = state ? lk_sketch_validate_state(sk[k]) : lk_sketch_validate(sk[k])) != NULL)
				return msg;
			/* one time per entity that reached step k, none for step 1 */
			if (lk_sketch_total(sk[k]) > (k == 0 ? 0 : reached[k]))
				return "more times to convert than entities reaching the step";
		}
	}
	return NULL;
}

/*
 * What every reader relies on, in O(nsteps): a known version, nsteps in
 * range, the value long enough for its reached counts, and the counts and
 * window in range (no division by a negative count).
 */
static const char *
FsCheckHeader(const FunnelSummary *fs)
{
	if (VARSIZE(fs) < offsetof(FunnelSummary, reached))
		return "shorter than its fixed fields";
	if (fs->version != FS_VERSION)
		return "unknown format version";
	if (fs->nsteps < 1 || fs->nsteps > LK_FUNNEL_MAX_STEPS)
		return "step count out of range";
	if (VARSIZE(fs) < offsetof(FunnelSummary, reached) + fs->nsteps * sizeof(int64))
		return "shorter than its reached counts";
	if (fs->window < -1)
		return "window out of range";
	if (fs->entities < 0)
		return "negative entity count";
	for (int k = 0; k < fs->nsteps; k++)
		if (fs->reached[k] < 0 || fs->reached[k] > (k == 0 ? fs->entities : fs->reached[k - 1]))
			return "reached counts must not increase from step to step";
	return NULL;
}

/*
 * What readers of the sketches rely on, after FsCheckHeader: sketch headers
 * that tile the rest of the value exactly (each must fit before it is read;
 * FsSketch walks them by capacity).  Stored sketches have capacity ==
 * nbuckets (fs_build).  O(nsteps).
 */
static const char *
FsCheckSketchLayout(const FunnelSummary *fs)
{
	const char *end = (const char *) fs + VARSIZE(fs);
	const char *p = FS_SKETCHES(fs);

	for (int k = 0; k < fs->nsteps; k++)
	{
		const LkSketch *sk = (const LkSketch *) p;

		if (end - p < (ptrdiff_t) offsetof(LkSketch, buckets))
			return "shorter than its sketches";
		if ((uint32) sk->capacity > LK_SKETCH_MAX_INDEX + 1 || (uint32) sk->nbuckets > (uint32) sk->capacity ||
			end - p < (ptrdiff_t) LK_SKETCH_SIZE(sk->capacity))
			return "a sketch's bucket count disagrees with the value's size";
		p += LK_SKETCH_SIZE(sk->capacity);
	}
	if (p != end)
		return "longer than its sketches";
	return NULL;
}

FunnelSummary *
fs_detoast(Datum d)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(d);
	FunnelSummary  *fs = (FunnelSummary *) (unlikely(VARATT_IS_EXTENDED(v)) ? pg_detoast_datum(v) : v);
	const char	   *msg;

	if (unlikely((msg = FsCheckHeader(fs)) != NULL))
		lk_corrupt("funnel_summary", msg);
	return fs;
}

void
fs_check_sketches(const FunnelSummary *fs)
{
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	const char *p = FS_SKETCHES(fs);
	const char *msg;

	if ((msg = FsCheckSketchLayout(fs)) != NULL)
		lk_corrupt("funnel_summary", msg);
	for (int k = 0; k < fs->nsteps; k++)
	{
		sk[k] = (LkSketch *) p;
		p += LK_SKETCH_SIZE(sk[k]->capacity);
	}
	/* a value read may be a transition state with spare (empty) buckets */
	if ((msg = FsValidate(fs->nsteps, fs->modes, fs->window, fs->entities, fs->reached, sk, true)) != NULL)
		lk_corrupt("funnel_summary", msg);
}

/*
 * What merging reads before it walks the buckets: the header and the
 * layout, O(nsteps).  fs_merge checks the buckets of b before it merges
 * them; the state's are checked by FsDetoastForMergeInPlace.
 */
static FunnelSummary *
FsDetoastForMerge(Datum d)
{
	FunnelSummary *fs = fs_detoast(d);
	const char	  *msg;

	if ((msg = FsCheckSketchLayout(fs)) != NULL)
		lk_corrupt("funnel_summary", msg);
	return fs;
}

/*
 * The state of a merge, updated in place: the header, the layout and every
 * sketch's buckets in order and in range (the in-place merge inserts into
 * them by binary search and merges backwards).  O(size).  The state may be
 * a stored value as nodeAgg copied it.
 */
static FunnelSummary *
FsDetoastForMergeInPlace(Datum d)
{
	FunnelSummary *fs = FsDetoastForMerge(d);
	const char	  *p = FS_SKETCHES(fs);
	const char	  *msg;

	for (int k = 0; k < fs->nsteps; k++)
	{
		if ((msg = lk_sketch_check((const LkSketch *) p)) != NULL)
			lk_corrupt("funnel_summary", msg);
		p += LK_SKETCH_SIZE(((const LkSketch *) p)->capacity);
	}
	return fs;
}

static void
FsCorrupt(const char *what, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid %s for funnel_summary: %s", what, msg)));
}

/* ---- text I/O ------------------------------------------------------------ */

/*
 * Text form, fields in this order:
 * v1;steps=3;window=<usec>;modes=<list>;entities=<n>;reached=<n>,<n>,<n>;ttc=<sketch>|<sketch>|<sketch>
 */
PG_FUNCTION_INFO_V1(funnel_summary_out);
Datum
funnel_summary_out(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	StringInfoData buf;

	fs_check_sketches(fs);
	initStringInfo(&buf);
	appendStringInfo(&buf, "v%d;steps=%d;window=" INT64_FORMAT ";modes=",
					 fs->version, fs->nsteps, fs->window);
	lk_funnel_modes_out(&buf, fs->modes);
	appendStringInfo(&buf, ";entities=" INT64_FORMAT ";reached=", fs->entities);
	for (int k = 0; k < fs->nsteps; k++)
		appendStringInfo(&buf, "%s" INT64_FORMAT, k ? "," : "", fs->reached[k]);
	appendStringInfoString(&buf, ";ttc=");
	for (int k = 1; k <= fs->nsteps; k++)
	{
		if (k > 1)
			appendStringInfoChar(&buf, '|');
		lk_sketch_out(&buf, FsSketch(fs, k));
	}
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(funnel_summary_in);
Datum
funnel_summary_in(PG_FUNCTION_ARGS)
{
	const char *p = PG_GETARG_CSTRING(0);
	int64		nsteps;
	int64		window;
	int64		entities;
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	uint32		modes = 0;
	const char *err;

	if (!lk_parse_lit(&p, "v1;steps=") || !lk_parse_int64(&p, &nsteps, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \"v1;steps=<n>\"");
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		FsCorrupt("input syntax", "step count out of range");
	if (!lk_parse_lit(&p, ";window=") || !lk_parse_int64(&p, &window, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \";window=<usec>\"");
	if (!lk_parse_lit(&p, ";modes="))
		FsCorrupt("input syntax", "expected \";modes=\"");
	while (*p != ';' && *p != '\0')
	{
		const char *b = p;
		uint32		bit;

		while (*p != ',' && *p != ';' && *p != '\0')
			p++;
		bit = lk_funnel_mode_bit(b, p - b);
		if (bit == 0)
			FsCorrupt("input syntax", "unknown mode");
		modes |= bit;
		if (*p == ',')
			p++;
	}
	if (!lk_parse_lit(&p, ";entities=") || !lk_parse_int64(&p, &entities, PG_INT64_MIN, PG_INT64_MAX))
		FsCorrupt("input syntax", "expected \";entities=<n>\"");
	if (!lk_parse_lit(&p, ";reached="))
		FsCorrupt("input syntax", "expected \";reached=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if ((k > 0 && !lk_parse_lit(&p, ",")) || !lk_parse_int64(&p, &reached[k], PG_INT64_MIN, PG_INT64_MAX))
			FsCorrupt("input syntax", "expected one reached count per step");
	}
	if (!lk_parse_lit(&p, ";ttc="))
		FsCorrupt("input syntax", "expected \";ttc=\"");
	for (int k = 0; k < nsteps; k++)
	{
		if (k > 0 && !lk_parse_lit(&p, "|"))
			FsCorrupt("input syntax", "expected one sketch per step");
		if ((sk[k] = lk_sketch_in(&p, &err)) == NULL)
			FsCorrupt("input syntax", err);
	}
	if (*p != '\0')
		FsCorrupt("input syntax", "unexpected text after the last sketch");
	if ((err = FsValidate(nsteps, modes, window, entities, reached, sk, false)) != NULL)
		FsCorrupt("input", err);
	PG_RETURN_POINTER(fs_build(nsteps, modes, window, entities, reached, sk));
}

/* ---- binary I/O ---------------------------------------------------------- */

/* The binary form; fs has passed fs_detoast. */
static bytea *
FsSend(const FunnelSummary *fs)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, FS_VERSION);
	pq_sendbyte(&buf, fs->nsteps);
	pq_sendint16(&buf, fs->modes);
	pq_sendint64(&buf, fs->window);
	pq_sendint64(&buf, fs->entities);
	for (int k = 0; k < fs->nsteps; k++)
		pq_sendint64(&buf, fs->reached[k]);
	for (int k = 1; k <= fs->nsteps; k++)
		lk_sketch_send(&buf, FsSketch(fs, k));
	return pq_endtypsend(&buf);
}

/* What is sent must re-read: the whole value is checked first. */
PG_FUNCTION_INFO_V1(funnel_summary_send);
Datum
funnel_summary_send(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);

	fs_check_sketches(fs);
	PG_RETURN_BYTEA_P(FsSend(fs));
}

/*
 * The bytes = and hash compare: the binary form, which walks the sketches by
 * their headers (the layout check, O(nsteps)) but needs no more.
 */
static Datum
FsCompareBytes(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	const char	  *msg;

	if ((msg = FsCheckSketchLayout(fs)) != NULL)
		lk_corrupt("funnel_summary", msg);
	PG_RETURN_BYTEA_P(FsSend(fs));
}

static FunnelSummary *
FsRecv(StringInfo buf)
{
	int			nsteps;
	uint32		modes;
	int64		window;
	int64		entities;
	int64		reached[LK_FUNNEL_MAX_STEPS];
	LkSketch   *sk[LK_FUNNEL_MAX_STEPS];
	const char *err;

	if (buf->len - buf->cursor < 1 + 1 + 2 + 8 + 8)
		FsCorrupt("binary input", "truncated header");
	if (pq_getmsgbyte(buf) != FS_VERSION)
		FsCorrupt("binary input", "unknown version");
	nsteps = pq_getmsgbyte(buf);
	if (nsteps < 1 || nsteps > LK_FUNNEL_MAX_STEPS)
		FsCorrupt("binary input", "step count out of range");
	modes = pq_getmsgint(buf, 2);
	window = pq_getmsgint64(buf);
	entities = pq_getmsgint64(buf);
	if (buf->len - buf->cursor < nsteps * 8)
		FsCorrupt("binary input", "truncated reached counts");
	for (int k = 0; k < nsteps; k++)
		reached[k] = pq_getmsgint64(buf);
	for (int k = 0; k < nsteps; k++)
	{
		if ((sk[k] = lk_sketch_recv(buf, &err)) == NULL)
			FsCorrupt("binary input", err);
	}
	if (buf->cursor != buf->len)
		FsCorrupt("binary input", "trailing bytes");
	if ((err = FsValidate(nsteps, modes, window, entities, reached, sk, false)) != NULL)
		FsCorrupt("binary input", err);
	return fs_build(nsteps, modes, window, entities, reached, sk);
}

PG_FUNCTION_INFO_V1(funnel_summary_recv);
Datum
funnel_summary_recv(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(FsRecv((StringInfo) PG_GETARG_POINTER(0)));
}

/* funnel_summary_from_bytes(bytea): the binary form, e.g. from funnel_summary_send() */
PG_FUNCTION_INFO_V1(funnel_summary_from_bytes);
Datum
funnel_summary_from_bytes(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	/* read in place: FsRecv only uses the pq_getmsg* readers of fixed sizes */
	lk_read_bytes(&buf, PG_GETARG_BYTEA_PP(0));
	PG_RETURN_POINTER(FsRecv(&buf));
}

/* ---- merging: rollup, and the combine of every funnel_agg form ----------- */

static void
FsCheckSame(const FunnelSummary *a, const FunnelSummary *b)
{
	if (a->nsteps != b->nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot roll up funnel summaries with %d and %d steps",
						a->nsteps, b->nsteps),
				 errhint("Build every summary of one funnel with the same steps; funnel_agg's nsteps argument fixes the count.")));
	if (a->window != b->window || a->modes != b->modes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot roll up funnel summaries with different windows or modes"),
				 errhint("Build every summary of one funnel with the same window and modes.")));
}

/*
 * A copy of fs in the current memory context whose sketch at byte offset
 * `off` has room for `capacity` buckets (at least its used ones); the rest
 * is copied as it is.  The new slots are zeroed: no byte of a summary is
 * ever undefined.
 */
static FunnelSummary *
FsGrowSketch(const FunnelSummary *fs, Size off, int32 capacity)
{
	const LkSketch *sk = (const LkSketch *) ((const char *) fs + off);
	Size			old_end = off + LK_SKETCH_SIZE(sk->capacity);
	Size			new_end = off + LK_SKETCH_SIZE(capacity);
	Size			size = new_end + (VARSIZE(fs) - old_end);
	char		   *n = palloc(size);

	Assert(capacity >= sk->nbuckets);
	memcpy(n, fs, off + LK_SKETCH_SIZE(sk->nbuckets));
	memset(n + off + LK_SKETCH_SIZE(sk->nbuckets), 0,
		   (Size) (capacity - sk->nbuckets) * sizeof(LkSketchBucket));
	memcpy(n + new_end, (const char *) fs + old_end, VARSIZE(fs) - old_end);
	((LkSketch *) (n + off))->capacity = capacity;
	SET_VARSIZE(n, size);
	return (FunnelSummary *) n;
}

/*
 * Adds sketch b into a's sketch at offset `off`: in place when a has every
 * bucket of b, as it does once a rollup has seen the common times; else in
 * a copy whose sketch has exactly the union of buckets, so that a summary
 * without spare capacity stays without.  `owned`: a was allocated here and
 * may be freed once copied.
 */
static FunnelSummary *
FsMergeSketch(FunnelSummary *a, bool *owned, Size off, const LkSketch *b)
{
	LkSketch *sa = (LkSketch *) ((char *) a + off);
	LkSketch *rest;
	int32	  i;

	sa->zero_count = lk_add_count(sa->zero_count, b->zero_count);
	for (i = 0; i < b->nbuckets; i++)
	{
		if (b->buckets[i].count != 0 &&
			!lk_sketch_add_index(sa, b->buckets[i].index, b->buckets[i].count))
			break;
	}
	if (i == b->nbuckets)
		return a;

	/* a new bucket: merge the rest of b into a copy grown to the union */
	rest = lk_sketch_new(b->nbuckets - i);
	for (; i < b->nbuckets; i++)
		if (b->buckets[i].count != 0)
			rest->buckets[rest->nbuckets++] = b->buckets[i];
	{
		FunnelSummary *grown = FsGrowSketch(a, off, lk_sketch_union_buckets(sa, rest));

		if (*owned)
			pfree(a);
		a = grown;
		*owned = true;
	}
	sa = (LkSketch *) ((char *) a + off);
	lk_sketch_merge(sa, sa, rest);
	pfree(rest);
	return a;
}

FunnelSummary *
fs_merge(FunnelSummary *a, const FunnelSummary *b)
{
	bool		owned = false;
	Size		off = (Size) (FS_SKETCHES(a) - (char *) a);
	const char *pb = FS_SKETCHES(b);

	FsCheckSame(a, b);
	a->entities = lk_add_count(a->entities, b->entities);
	for (int k = 0; k < a->nsteps; k++)
		a->reached[k] = lk_add_count(a->reached[k], b->reached[k]);
	for (int k = 0; k < a->nsteps; k++)
	{
		const LkSketch *sb = (const LkSketch *) pb;
		const char	   *msg;

		/* b may be a stored value read as is: its buckets, before merging */
		if ((msg = lk_sketch_check(sb)) != NULL)
			lk_corrupt("funnel_summary", msg);
		a = FsMergeSketch(a, &owned, off, sb);
		off += LK_SKETCH_SIZE(((LkSketch *) ((char *) a + off))->capacity);
		pb += LK_SKETCH_SIZE(sb->capacity);
	}
	return a;
}

FunnelSummary *
fs_add_entity(FunnelSummary *fs, int level, const int64 *path)
{
	Size off;

	Assert(level >= 0 && level <= fs->nsteps);
	fs->entities = lk_add_count(fs->entities, 1);
	for (int k = 0; k < level; k++)
		fs->reached[k] = lk_add_count(fs->reached[k], 1);
	/* step 1's sketch is always empty: start at step 2's */
	off = (Size) (FS_SKETCHES(fs) - (char *) fs);
	if (level >= 2)
		off += LK_SKETCH_SIZE(((LkSketch *) ((char *) fs + off))->capacity);
	for (int s = 1; s < level; s++)
	{
		LkSketch *sk = (LkSketch *) ((char *) fs + off);
		int32	  index = fs_ttc_index(path[s - 1], path[s]);

		if (!lk_sketch_add_index(sk, index, 1))
		{
			/* doubling: the state grows a few times per step, then stays */
			fs = FsGrowSketch(fs, off, Min(Max(8, sk->capacity * 2), LK_SKETCH_MAX_INDEX + 1));
			sk = (LkSketch *) ((char *) fs + off);
			(void) lk_sketch_add_index(sk, index, 1);
		}
		off += LK_SKETCH_SIZE(sk->capacity);
	}
	return fs;
}

FunnelSummary *
fs_compact(const FunnelSummary *fs)
{
	LkSketch *sk[LK_FUNNEL_MAX_STEPS];

	for (int k = 0; k < fs->nsteps; k++)
		sk[k] = FsSketch(fs, k + 1);
	return fs_build(fs->nsteps, fs->modes, fs->window, fs->entities, fs->reached, sk);
}

/*
 * stored - old + new, where old summarizes some of the entities stored
 * summarizes and new what replaces them (see kpi_summary_replace): a key's
 * summary after a change, from the summaries of its changed entities alone.
 * Counts and times to convert subtract exactly, so this is NULL only when
 * old is not a part of stored, or when nothing remains (the recomputation
 * drops the key).  A NULL argument is an empty summary; the summaries must
 * share their steps, window and modes (22023).
 */
static FunnelSummary *
FsReplace(const FunnelSummary *s, const FunnelSummary *o, const FunnelSummary *n)
{
	LkSketch	  *sk[LK_FUNNEL_MAX_STEPS];
	int64		   reached[LK_FUNNEL_MAX_STEPS];
	FunnelSummary *r;

	if (s == NULL && o != NULL)
		return NULL;
	if (s == NULL && n == NULL)
		return NULL;
	if (s == NULL)
		r = fs_compact(n);
	else
	{
		if (o == NULL)
			r = fs_compact(s);
		else
		{
			FsCheckSame(s, o);
			if (o->entities > s->entities)
				return NULL;
			for (int k = 0; k < s->nsteps; k++)
			{
				if (o->reached[k] > s->reached[k] ||
					(sk[k] = lk_sketch_subtract(FsSketch(s, k + 1), FsSketch(o, k + 1))) == NULL)
					return NULL;
				reached[k] = s->reached[k] - o->reached[k];
			}
			if (FsValidate(s->nsteps, s->modes, s->window, s->entities - o->entities, reached, sk, false) != NULL)
				return NULL;
			r = fs_build(s->nsteps, s->modes, s->window, s->entities - o->entities, reached, sk);
		}
		if (n != NULL)
			r = fs_compact(fs_merge(r, n));
	}
	return r->entities > 0 ? r : NULL;
}

PG_FUNCTION_INFO_V1(funnel_summary_replace);
Datum
funnel_summary_replace(PG_FUNCTION_ARGS)
{
	FunnelSummary *arg[3];
	FunnelSummary *r;

	for (int i = 0; i < 3; i++)
	{
		arg[i] = PG_ARGISNULL(i) ? NULL : fs_detoast(PG_GETARG_DATUM(i));
		if (arg[i])
			fs_check_sketches(arg[i]);
	}
	if (arg[0] && arg[2])
		FsCheckSame(arg[0], arg[2]);
	r = FsReplace(arg[0], arg[1], arg[2]);
	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(r);
}

/*
 * funnel_summary_combine(state, summary): rollup's transition function and
 * the combine function of rollup and of both funnel_agg forms.
 */
PG_FUNCTION_INFO_V1(funnel_summary_combine);
Datum
funnel_summary_combine(PG_FUNCTION_ARGS)
{
	/*
	 * The state is the aggregate's own copy: nodeAgg copies a first input
	 * (and any new by-reference state returned, such as a grown copy, made
	 * in the per-call context) into the aggregate context and frees the old
	 * one itself.  So merging updates it in place, growing it only when a
	 * sketch needs a bucket it lacks.
	 */
	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "funnel_summary_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_POINTER(FsDetoastForMerge(PG_GETARG_DATUM(1)));
	/*
	 * The state is ours (see above): merge into it.  It may be a stored
	 * summary as it was read (a first input), so it is checked whole; fs_merge
	 * checks b's buckets.
	 */
	PG_RETURN_POINTER(fs_merge(FsDetoastForMergeInPlace(PG_GETARG_DATUM(0)),
							   FsDetoastForMerge(PG_GETARG_DATUM(1))));
}

/*
 * funnel_agg_level_accum(state, level, nsteps): funnel_agg over per-entity
 * levels (e.g. from window_funnel).  The state is the summary itself,
 * updated in place; it has no times to convert.
 */
PG_FUNCTION_INFO_V1(funnel_agg_level_accum);
Datum
funnel_agg_level_accum(PG_FUNCTION_ARGS)
{
	MemoryContext  aggcxt;
	FunnelSummary *fs;
	int32		   level;
	int32		   nsteps;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "funnel_agg_level_accum called in non-aggregate context");
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: nsteps must not be null")));
	nsteps = PG_GETARG_INT32(2);
	lk_funnel_check_nsteps(nsteps, "funnel_agg");
	if (PG_ARGISNULL(0))
	{
		int64 zeros[LK_FUNNEL_MAX_STEPS] = { 0 };

		/* nodeAgg copies this first state into the aggregate context */
		fs = fs_build(nsteps, 0, -1, 0, zeros, NULL);
	}
	else
		fs = (FunnelSummary *) PG_GETARG_POINTER(0); /* ours: update in place */
	if (fs->nsteps != nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: nsteps must be the same in every row")));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(fs);
	level = PG_GETARG_INT32(1);
	if (level < 0 || level > nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("funnel_agg: level %d is outside 0..%d", level, nsteps)));
	fs->entities = lk_add_count(fs->entities, 1);
	for (int k = 0; k < level; k++)
		fs->reached[k] = lk_add_count(fs->reached[k], 1);
	PG_RETURN_POINTER(fs);
}

/* funnel_summary = funnel_summary, <> and the hash opclass: see lk_send_equal */
PG_FUNCTION_INFO_V1(funnel_summary_eq);
Datum
funnel_summary_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(lk_send_equal(FsCompareBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(funnel_summary_ne);
Datum
funnel_summary_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!lk_send_equal(FsCompareBytes, PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(funnel_summary_hash);
Datum
funnel_summary_hash(PG_FUNCTION_ARGS)
{
	PG_RETURN_UINT32(lk_send_hash(FsCompareBytes, PG_GETARG_DATUM(0)));
}

/* ---- accessors ----------------------------------------------------------- */

static void
CheckStep(const FunnelSummary *fs, int32 step, const char *fn)
{
	if (step < 1 || step > fs->nsteps)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: step %d is outside 1..%d", fn, step, fs->nsteps)));
}

PG_FUNCTION_INFO_V1(funnel_reached);
Datum
funnel_reached(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		   step = PG_GETARG_INT32(1);

	CheckStep(fs, step, "reached");
	PG_RETURN_INT64(fs->reached[step - 1]);
}

PG_FUNCTION_INFO_V1(funnel_conversion_rate);
Datum
funnel_conversion_rate(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		   from = PG_GETARG_INT32(1);
	int32		   to = PG_GETARG_INT32(2);

	CheckStep(fs, from, "conversion_rate");
	CheckStep(fs, to, "conversion_rate");
	if (from > to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conversion_rate: from_step %d is after to_step %d", from, to)));
	if (fs->reached[from - 1] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8((double) fs->reached[to - 1] / (double) fs->reached[from - 1]);
}

PG_FUNCTION_INFO_V1(funnel_drop_off);
Datum
funnel_drop_off(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		   step = PG_GETARG_INT32(1);
	int64		   prev;

	CheckStep(fs, step, "drop_off");
	prev = (step == 1) ? fs->entities : fs->reached[step - 2];
	PG_RETURN_INT64(prev - fs->reached[step - 1]);
}

PG_FUNCTION_INFO_V1(funnel_bottleneck);
Datum
funnel_bottleneck(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int			   best = 0;
	double		   best_rate = 0.0;

	for (int k = 2; k <= fs->nsteps; k++)
	{
		double rate;

		if (fs->reached[k - 2] == 0)
			continue; /* no conversion to judge */
		rate = (double) fs->reached[k - 1] / (double) fs->reached[k - 2];
		if (best == 0 || rate < best_rate)
		{
			best = k;
			best_rate = rate;
		}
	}
	if (best == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32(best);
}

PG_FUNCTION_INFO_V1(funnel_time_to_convert_median);
Datum
funnel_time_to_convert_median(PG_FUNCTION_ARGS)
{
	FunnelSummary *fs = PG_GETARG_FS(0);
	int32		   step = PG_GETARG_INT32(1);
	LkSketch	  *s;
	const char	  *msg;

	CheckStep(fs, step, "time_to_convert_median");
	/* the sketches are found by walking them; the median reads one by rank */
	if ((msg = FsCheckSketchLayout(fs)) != NULL ||
		(msg = lk_sketch_check(s = FsSketch(fs, step))) != NULL)
		lk_corrupt("funnel_summary", msg);
	if (lk_sketch_total(s) == 0)
		PG_RETURN_NULL();
	PG_RETURN_INTERVAL_P(lk_interval_from_usec(lk_sketch_usec(lk_sketch_quantile(s, 0.5))));
}

PG_FUNCTION_INFO_V1(funnel_nsteps);
Datum
funnel_nsteps(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(PG_GETARG_FS(0)->nsteps);
}

PG_FUNCTION_INFO_V1(funnel_entities);
Datum
funnel_entities(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(PG_GETARG_FS(0)->entities);
}
