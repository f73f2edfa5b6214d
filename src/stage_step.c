/*
 * stage_step.c: stage_step(stages, stage), the 1-based position of a stage
 * name in a list of stages, which report_stage_events computes for every
 * stage event.  array_position() gives the same number but deconstructs the
 * array and calls the collation's equality for each element of each row:
 * 0.7 s of CPU for 5M events, more than reading them.  Here the list is read
 * once per query (fn_extra) and names compare bytewise, which is what text
 * equality is under a deterministic collation; under a nondeterministic one
 * each element is compared with texteq, as array_position does.
 */
#include "leadkpi.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* The list of the last call: its array's bytes, and its names. */
typedef struct StageList
{
	ArrayType	*arr;			/* a copy, to recognize the same list */
	bool		 constant;		/* the array is a constant or a parameter */
	Oid			 collation;		/* that of the calls it was read for */
	bool		 deterministic; /* compare bytewise */
	int			 n;
	int32		*len; /* -1: a NULL element, which no stage equals */
	const char **name;
	Datum		*datum; /* for texteq under a nondeterministic collation */
} StageList;

/* The names of arr, read into fn_mcxt (arr is one-dimensional). */
static StageList *
ReadStageList(FmgrInfo *flinfo, ArrayType *arr, Oid collation)
{
	MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);
	StageList	 *l = palloc0(sizeof(StageList));
	bool		 *nulls;

	l->arr = palloc(VARSIZE(arr));
	memcpy(l->arr, arr, VARSIZE(arr));
	l->collation = collation;
	l->deterministic = !OidIsValid(collation) || get_collation_isdeterministic(collation);
	deconstruct_array(l->arr, TEXTOID, -1, false, TYPALIGN_INT, &l->datum, &nulls, &l->n);
	l->len = palloc(sizeof(int32) * Max(l->n, 1));
	l->name = palloc(sizeof(char *) * Max(l->n, 1));
	for (int i = 0; i < l->n; i++)
	{
		text *t = nulls[i] ? NULL : DatumGetTextPP(l->datum[i]);

		l->len[i] = t ? (int32) VARSIZE_ANY_EXHDR(t) : -1;
		l->name[i] = t ? VARDATA_ANY(t) : ""; /* never read: no stage has length -1 */
	}
	MemoryContextSwitchTo(old);
	return l;
}

/* The list of this call's array, read again only when the array changed. */
static StageList *
GetStageList(FunctionCallInfo fcinfo, ArrayType *arr)
{
	StageList *l = (StageList *) fcinfo->flinfo->fn_extra;
	Oid		   collation = PG_GET_COLLATION();

	/* a constant list (as in the view) is read once, else compared in every row */
	if (l != NULL && (l->constant || (l->collation == collation && VARSIZE(l->arr) == VARSIZE(arr) &&
									  memcmp(l->arr, arr, VARSIZE(arr)) == 0)))
		return l;
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stage_step: the stages must be a one-dimensional array"),
				 errhint("Pass the stages as ARRAY['lead', 'mql', ...], in funnel order.")));
	if (l != NULL)
	{
		pfree(l->arr);
		pfree(l->datum);
		pfree(l->len);
		pfree(l->name);
		pfree(l);
	}
	l = ReadStageList(fcinfo->flinfo, arr, collation);
	l->constant = get_fn_expr_arg_stable(fcinfo->flinfo, 0);
	fcinfo->flinfo->fn_extra = l;
	return l;
}

/*
 * stage_step(stages text[], stage text) returns integer: the position of
 * the first element of stages equal to stage (counted from the array's
 * lower bound, usually 1), NULL when none is: array_position(stages,
 * stage), which a NULL stage also gives the first NULL element for.
 */
PG_FUNCTION_INFO_V1(stage_step);
Datum
stage_step(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	text	   *stage;
	StageList  *l;
	const char *b;
	int32		len;
	int			lb;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	arr = PG_GETARG_ARRAYTYPE_P(0);
	l = GetStageList(fcinfo, arr);
	lb = ARR_NDIM(arr) == 1 ? ARR_LBOUND(arr)[0] : 1;
	if (PG_ARGISNULL(1))
	{
		for (int i = 0; i < l->n; i++)
			if (l->len[i] < 0)
				PG_RETURN_INT32(lb + i);
		PG_RETURN_NULL();
	}
	stage = PG_GETARG_TEXT_PP(1);
	b = VARDATA_ANY(stage);
	len = VARSIZE_ANY_EXHDR(stage);
	if (l->deterministic)
	{
		for (int i = 0; i < l->n; i++)
			if (l->len[i] == len && (len == 0 || (l->name[i][0] == b[0] && memcmp(l->name[i], b, len) == 0)))
				PG_RETURN_INT32(lb + i);
	}
	else
	{
		for (int i = 0; i < l->n; i++)
			if (l->len[i] >= 0 &&
				DatumGetBool(DirectFunctionCall2Coll(texteq, l->collation, l->datum[i], PointerGetDatum(stage))))
				PG_RETURN_INT32(lb + i);
	}
	PG_RETURN_NULL();
}
