/*
 * money.c: exact, allocation-free summation of numeric amounts.
 *
 * numeric_add allocates a result per call, which would put a palloc in every
 * row of cost_per_lead.  Instead we read the digits of the on-disk numeric and
 * add them to a scaled 128-bit integer.  The on-disk layout below mirrors
 * src/backend/utils/adt/numeric.c; pg_upgrade depends on it staying stable.
 */
#include "money.h"

#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#define NBASE 10000
#define NUM_SIGN_MASK 0xC000
#define NUM_NEG 0x4000
#define NUM_SHORT 0x8000
#define NUM_SPECIAL 0xC000
#define NUM_SHORT_SIGN_MASK 0x2000
#define NUM_SHORT_DSCALE_MASK 0x1F80
#define NUM_SHORT_DSCALE_SHIFT 7
#define NUM_SHORT_WEIGHT_SIGN 0x0040
#define NUM_SHORT_WEIGHT_MASK 0x003F
#define NUM_DSCALE_MASK 0x3FFF

/* 10^0 .. 10^38: every power of ten an int128 holds */
static int128 Pow10[39];

static void
InitPow10(void)
{
	if (Pow10[0] == 0)
	{
		Pow10[0] = 1;
		for (int i = 1; i < 39; i++)
			Pow10[i] = Pow10[i - 1] * 10;
	}
}

pg_noreturn static void
OutOfRange(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("%s total out of range", what),
			 errdetail("leadkpi sums amounts exactly in 38 significant digits, and this total needs more."),
			 errhint("Round the amounts to the precision you need, e.g. round(amount, 2).")));
}

/* -2^127, the one int128 without a positive counterpart */
#define SUM_MIN (-(int128) (~(uint128) 0 >> 1) - 1)

/*
 * Stores a total.  The range is symmetric, +-(2^127 - 1), as the text input
 * reads it: -2^127 alone has no positive counterpart and could not be read
 * back, so it is out of range too.
 */
static inline void
PutSum(LkMoney *m, int128 v, const char *what)
{
	if (unlikely(v == SUM_MIN))
		OutOfRange(what);
	m->sum = v;
}

/* x * 10^k, erroring when it does not fit. */
static int128
Scale(int128 x, int k, const char *what)
{
	int128 r;

	if (x == 0)
		return 0;
	if (k > 38 || __builtin_mul_overflow(x, Pow10[k], &r))
		OutOfRange(what);
	return r;
}

/* An on-disk numeric's fields: sign, display scale, weight, NBASE digits. */
typedef struct NumDigits
{
	bool		neg;
	int			dscale;
	int			weight;
	int			ndigits;
	const char *digits; /* int16 each, not aligned */
} NumDigits;

/* Reads a numeric's header; NaN and infinities are errors. */
static inline void
NumRead(const char *data, Size len, NumDigits *n, const char *what)
{
	uint16 header;

	memcpy(&header, data, sizeof(uint16));
	if ((header & NUM_SIGN_MASK) == NUM_SPECIAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what),
				 errdetail("NaN and infinite amounts cannot be summed exactly."),
				 errhint("Filter out or replace the 'NaN' and 'Infinity' amounts.")));
	if (header & NUM_SHORT)
	{
		n->neg = (header & NUM_SHORT_SIGN_MASK) != 0;
		n->dscale = (header & NUM_SHORT_DSCALE_MASK) >> NUM_SHORT_DSCALE_SHIFT;
		n->weight = (header & NUM_SHORT_WEIGHT_SIGN) ? (~NUM_SHORT_WEIGHT_MASK | (header & NUM_SHORT_WEIGHT_MASK)) : (header & NUM_SHORT_WEIGHT_MASK);
		n->digits = data + sizeof(uint16);
		n->ndigits = (len - sizeof(uint16)) / sizeof(int16);
	}
	else
	{
		int16 w;

		n->neg = (header & NUM_SIGN_MASK) == NUM_NEG;
		n->dscale = header & NUM_DSCALE_MASK;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		n->weight = w;
		n->digits = data + 2 * sizeof(uint16);
		n->ndigits = (len - 2 * sizeof(uint16)) / sizeof(int16);
	}
}

/*
 * The fast path for everyday amounts (up to 16 digits, scale not above the
 * running one): int64 arithmetic, no overflow checks needed.  false, having
 * changed nothing, for any other amount.
 */
static inline bool
AddSmall(LkMoney *m, const NumDigits *n, const char *what)
{
	int64  a = 0;
	int	   r = 4 * (n->ndigits - n->weight - 1); /* a = |value| * 10^r */
	int	   k;
	int128 sum = m->sum;

	if (n->ndigits > 4 || n->dscale > m->dscale)
		return false;
	for (int i = 0; i < n->ndigits; i++)
	{
		int16 d;

		memcpy(&d, n->digits + i * sizeof(int16), sizeof(int16));
		a = a * NBASE + d;
	}
	/* a last group that runs past dscale ends in zeros: drop them */
	switch (r - n->dscale)
	{
		case 3:
			a /= 1000, r = n->dscale;
			break;
		case 2:
			a /= 100, r = n->dscale;
			break;
		case 1:
			a /= 10, r = n->dscale;
			break;
	}
	if (r > m->dscale || m->dscale - r > 2)
		return false;
	k = m->dscale - r;
	/* a < 10^16, so a * 10^2 still fits in int64 */
	a *= (k == 0) ? 1 : (k == 1) ? 10 :
								   100;
	if (__builtin_add_overflow(sum, (int128) (n->neg ? -a : a), &sum))
		OutOfRange(what);
	PutSum(m, sum, what);
	return true;
}

/*
 * |value| * 10^rep, and rep.  Digits past dscale are zero, so the last
 * fraction group is only read as far as dscale: a 38-digit amount then fits
 * even when its last group would carry it past 38 digits.
 */
static int128
NumMagnitude(const NumDigits *n, int *rep, const char *what)
{
	int128 acc = 0;

	*rep = 4 * (n->ndigits - n->weight - 1);
	for (int i = 0; i < n->ndigits; i++)
	{
		int16 d;
		int	  frac_group = i - n->weight; /* 1 for the first fraction group */

		memcpy(&d, n->digits + i * sizeof(int16), sizeof(int16));
		if (frac_group > 0 && 4 * frac_group > n->dscale)
		{
			int keep = n->dscale - 4 * (frac_group - 1); /* 0..3 */

			acc = Scale(acc, keep, what);
			if (__builtin_add_overflow(acc, d / (int) Pow10[4 - keep], &acc))
				OutOfRange(what);
			*rep = n->dscale;
			break;
		}
		if (__builtin_mul_overflow(acc, NBASE, &acc) ||
			__builtin_add_overflow(acc, d, &acc))
			OutOfRange(what);
	}
	return acc;
}

/* m += the amount, exactly, at the larger of the two scales. */
static void
AddScaled(LkMoney *m, const NumDigits *n, const char *what)
{
	int	   rep;
	int128 acc = NumMagnitude(n, &rep, what);
	int	   target = Max(n->dscale, m->dscale);
	int128 sum = m->sum;

	acc = Scale(acc, target - rep, what);
	if (n->neg)
		acc = -acc;
	if (m->dscale < 0)
	{
		m->dscale = target;
		PutSum(m, acc, what);
		return;
	}
	if (target > m->dscale)
		sum = Scale(sum, target - m->dscale, what);
	if (__builtin_add_overflow(sum, acc, &sum))
		OutOfRange(what);
	PutSum(m, sum, what);
	m->dscale = target;
}

void
lk_money_add_numeric(LkMoney *m, Datum num, const char *what)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(num);
	struct varlena *copy = NULL;
	NumDigits		n;

	InitPow10();
	/* toasted values are rare for amounts; packed (1-byte header) ones are read in place */
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		v = copy = pg_detoast_datum_packed(v);
	NumRead(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), &n, what);
	if (!AddSmall(m, &n, what))
		AddScaled(m, &n, what);
	if (copy)
		pfree(copy);
}

/* m += other at different scales: rescale to the larger one first */
static pg_noinline void
MoneyAddRescaled(LkMoney *m, const LkMoney *other, const char *what)
{
	int128 a;
	int128 b;
	int	   target;

	InitPow10();
	target = Max(m->dscale, other->dscale);
	a = Scale(m->sum, target - m->dscale, what);
	b = Scale(other->sum, target - other->dscale, what);
	if (__builtin_add_overflow(a, b, &a))
		OutOfRange(what);
	PutSum(m, a, what);
	m->dscale = target;
}

/*
 * The usual case in a rollup, equal scales, needs no rescaling; the other
 * path is out of line, which keeps this one's prologue short (callgrind:
 * 27 instructions less per merge of a kpi_summary).
 */
void
lk_money_add(LkMoney *m, const LkMoney *other, const char *what)
{
	int128 a;

	if (!lk_money_present(other))
		return;
	if (!lk_money_present(m))
	{
		*m = *other;
		return;
	}
	if (m->dscale != other->dscale)
	{
		MoneyAddRescaled(m, other, what);
		return;
	}
	if (__builtin_add_overflow(m->sum, other->sum, &a))
		OutOfRange(what);
	PutSum(m, a, what);
}

void
lk_money_sub(LkMoney *m, const LkMoney *other, const char *what)
{
	int128 a;

	Assert(lk_money_present(m) && lk_money_present(other) && other->dscale <= m->dscale);
	InitPow10();
	if (__builtin_sub_overflow(m->sum, Scale(other->sum, m->dscale - other->dscale, what), &a))
		OutOfRange(what);
	PutSum(m, a, what);
}

void
lk_money_out(StringInfo buf, const LkMoney *m)
{
	StringInfoData digits;
	int128		   v;
	int			   n;
	const char	  *d;

	if (!lk_money_present(m))
	{
		appendStringInfoString(buf, "null");
		return;
	}
	v = m->sum;
	initStringInfo(&digits);
	/* the digits without the sign: negating v itself could overflow */
	lk_append_int128(&digits, v);
	d = digits.data + (v < 0);
	n = digits.len - (v < 0);
	if (v < 0)
		appendStringInfoChar(buf, '-');
	if (n <= m->dscale)
	{
		/* 0.000ddd */
		appendStringInfoString(buf, "0.");
		for (int i = 0; i < m->dscale - n; i++)
			appendStringInfoChar(buf, '0');
		appendStringInfoString(buf, d);
	}
	else
	{
		appendBinaryStringInfo(buf, d, n - m->dscale);
		if (m->dscale > 0)
		{
			appendStringInfoChar(buf, '.');
			appendStringInfoString(buf, d + n - m->dscale);
		}
	}
	pfree(digits.data);
}

Datum
lk_money_numeric(const LkMoney *m)
{
	StringInfoData buf;
	Datum		   result;

	Assert(lk_money_present(m));
	initStringInfo(&buf);
	lk_money_out(&buf, m);
	result = DirectFunctionCall3(numeric_in, CStringGetDatum(buf.data),
								 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	pfree(buf.data);
	return result;
}

bool
lk_money_in(const char **p, LkMoney *m)
{
	const char *c = *p;
	bool		neg = false;
	int128		v = 0;
	int			dscale = 0;
	int			ndig = 0;

	InitPow10();
	if (strncmp(c, "null", 4) == 0)
	{
		lk_money_init(m);
		*p = c + 4;
		return true;
	}
	if (*c == '-')
	{
		neg = true;
		c++;
	}
	while (*c >= '0' && *c <= '9')
	{
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c - '0', &v))
			return false;
		c++;
		ndig++;
	}
	if (ndig == 0)
		return false;
	if (*c == '.')
	{
		c++;
		if (*c < '0' || *c > '9')
			return false;
		while (*c >= '0' && *c <= '9')
		{
			if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *c - '0', &v))
				return false;
			c++;
			if (++dscale > LK_MONEY_MAX_DSCALE)
				return false;
		}
	}
	lk_money_init(m);
	m->sum = neg ? -v : v;
	m->dscale = dscale;
	*p = c;
	return true;
}

void
lk_money_send(StringInfo buf, const LkMoney *m)
{
	pq_sendint32(buf, m->dscale);
	lk_send_int128(buf, m->sum);
}

bool
lk_money_recv(StringInfo buf, LkMoney *m)
{
	if (buf->len - buf->cursor < 20)
		return false;
	lk_money_init(m);
	m->dscale = (int32) pq_getmsgint(buf, 4);
	m->sum = lk_getmsg_int128(buf);
	return true;
}

/*
 * The square of an amount, for the variances of forecasts: the amount rounded
 * to cents (half away from zero), squared exactly, so every square has scale
 * 4 and sums of squares stay exact integers that merge in any order.
 */
void
lk_money_square_cents(LkMoney *sq, const LkMoney *m, const char *what)
{
	int128 v;
	int	   k;

	InitPow10();
	lk_money_init(sq);
	if (!lk_money_present(m))
		return;
	v = m->sum;
	k = m->dscale - 2;
	if (k > 0)
	{
		if (k > 38)
			v = 0; /* |v| < 10^39: it rounds to 0 cents */
		else
		{
			int128 q = v / Pow10[k],
				   r = v % Pow10[k];

			if ((r < 0 ? -r : r) * 2 >= Pow10[k])
				q += (v < 0) ? -1 : 1;
			v = q;
		}
	}
	else if (k < 0)
		v = Scale(v, -k, what);
	if (v >= ((int128) 1 << 63) || v <= -((int128) 1 << 63))
		OutOfRange(what);
	sq->sum = v * v;
	sq->dscale = 4;
}

const char *
lk_money_validate(const LkMoney *m)
{
	if (m->dscale < -1 || m->dscale > LK_MONEY_MAX_DSCALE)
		return "amount scale out of range";
	/* an absent amount is all zeros, so that equal values have equal bytes */
	if (m->dscale == -1 && m->sum != 0)
		return "an absent amount must be zero";
	if (m->sum == SUM_MIN)
		return "amount total out of range";
	return NULL;
}
