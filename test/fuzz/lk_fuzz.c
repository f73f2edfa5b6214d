/*
 * lk_fuzz.c: test-only entry points for `make fuzz`, built as a module of
 * its own (lk_fuzz.so, never installed by `make install`).  They reach input
 * paths that plain SQL cannot call with arbitrary bytes:
 *
 *   lk_fuzz_recv(regtype, bytea) -> text
 *       a type's binary receive function on the bytes, as the server runs it
 *       for a binary Bind parameter or COPY FORMAT binary field
 *       (ReceiveFunctionCall, then the same "whole field consumed" check),
 *       and the value's text output;
 *   lk_fuzz_agg_state(bytea, deserialize, serialize, combine, final) -> text
 *       an `internal`-state aggregate's deserialize function under a minimal
 *       AggState, as a parallel plan's Finalize Aggregate calls it; then
 *       serialize (which must give the same bytes back), combine of the
 *       state with a second copy of itself, and the final function.  Returns
 *       "same <final's output>" or "differs <final's output>".
 *
 * Nothing here knows leadkpi's formats: the functions are passed by OID.
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(lk_fuzz_recv);
Datum
lk_fuzz_recv(PG_FUNCTION_ARGS)
{
	Oid			typ = PG_GETARG_OID(0);
	bytea	   *b = PG_GETARG_BYTEA_PP(1);
	Oid			recv,
				ioparam,
				out;
	bool		varlena;
	StringInfoData buf;
	Datum		v;

	getTypeBinaryInputInfo(typ, &recv, &ioparam);
	getTypeOutputInfo(typ, &out, &varlena);
	/* a private, NUL-terminated copy, as postgres.c gives receive functions */
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	v = OidReceiveFunctionCall(recv, &buf, ioparam, -1);
	if (buf.cursor != buf.len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format in bind parameter")));
	PG_RETURN_TEXT_P(cstring_to_text(OidOutputFunctionCall(out, v)));
}

/* Calls fn(a0, a1) as an aggregate support function under `agg`. */
static Datum
CallAgg(FmgrInfo *fn, AggState *agg, Datum a0, bool n0, Datum a1, bool n1, bool *isnull)
{
	LOCAL_FCINFO(fc, 2);
	Datum		r;

	InitFunctionCallInfoData(*fc, fn, fn->fn_nargs, InvalidOid, (Node *) agg, NULL);
	fc->args[0].value = a0;
	fc->args[0].isnull = n0;
	fc->args[1].value = a1;
	fc->args[1].isnull = n1;
	r = FunctionCallInvoke(fc);
	*isnull = fc->isnull;
	return r;
}

PG_FUNCTION_INFO_V1(lk_fuzz_agg_state);
Datum
lk_fuzz_agg_state(PG_FUNCTION_ARGS)
{
	bytea	   *in = PG_GETARG_BYTEA_P_COPY(0);
	FmgrInfo	deser,
				ser,
				comb,
				final;
	MemoryContext aggcxt,
				old;
	AggState   *agg;
	ExprContext *ecxt;
	Datum		st,
				st2,
				back,
				res;
	bool		isnull;
	bool		same;
	Oid			rettype,
				out;
	bool		varlena;
	StringInfoData msg;

	fmgr_info(PG_GETARG_OID(1), &deser);
	fmgr_info(PG_GETARG_OID(2), &ser);
	fmgr_info(PG_GETARG_OID(3), &comb);
	fmgr_info(PG_GETARG_OID(4), &final);
	rettype = get_func_rettype(PG_GETARG_OID(4));
	getTypeOutputInfo(rettype, &out, &varlena);

	/*
	 * AggCheckCallContext only needs an AggState whose current aggregate
	 * context is an ExprContext with a per-tuple memory context: the state
	 * lives there, as in a real Agg node.
	 */
	aggcxt = AllocSetContextCreate(CurrentMemoryContext, "lk_fuzz aggregate",
								   ALLOCSET_DEFAULT_SIZES);
	agg = makeNode(AggState);
	ecxt = palloc0(sizeof(ExprContext));
	ecxt->type = T_ExprContext;
	ecxt->ecxt_per_tuple_memory = aggcxt;
	agg->curaggcontext = ecxt;

	/* functions run in the per-call memory, as nodeAgg.c runs them */
	old = MemoryContextSwitchTo(aggcxt);
	st = CallAgg(&deser, agg, PointerGetDatum(in), false, (Datum) 0, false, &isnull);
	if (isnull)
		elog(ERROR, "deserialize returned null");
	back = CallAgg(&ser, agg, st, false, (Datum) 0, false, &isnull);
	same = !isnull && VARSIZE_ANY_EXHDR(DatumGetPointer(back)) == VARSIZE_ANY_EXHDR(in) &&
		memcmp(VARDATA_ANY(DatumGetPointer(back)), VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in)) == 0;
	/* a second state from the same bytes, combined into the first */
	st2 = CallAgg(&deser, agg, PointerGetDatum(in), false, (Datum) 0, false, &isnull);
	st = CallAgg(&comb, agg, st, false, st2, false, &isnull);
	res = CallAgg(&final, agg, st, isnull, (Datum) 0, true, &isnull);
	MemoryContextSwitchTo(old);

	initStringInfo(&msg);
	appendStringInfoString(&msg, same ? "same " : "differs ");
	appendStringInfoString(&msg, isnull ? "null" : OidOutputFunctionCall(out, res));
	MemoryContextDelete(aggcxt);
	PG_RETURN_TEXT_P(cstring_to_text(msg.data));
}
