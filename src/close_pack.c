/*
 * close_pack.c: the packed form of close_summary (what is stored, sent and
 * compared; see close_summary.h), and the readers of every form:
 * cs_block_view and cs_next_cell.
 *
 * A block's encoding: the number of observed windows, the lengths of its
 * windows, then for the observed windows only the arrivals, closings and
 * revenue counts, the new leads' wins, the revenue sums where a window has
 * revenue, and its cells with leads.  A cell: its stage and age bucket, its
 * leads, those with an amount (and the amounts when there are), then a
 * bitmap of its non-zero outcomes (won, then lost, per observed window) and
 * those outcomes.  Numbers are LEB128 varints, money a scale and a zigzag
 * varint of the scaled 128-bit sum.  Every value has one encoding: the
 * binary input re-packs what it reads and refuses anything else.
 */
#include "close_summary.h"

/* ---------------------------------------------------------------------------
 * Varints
 * ------------------------------------------------------------------------- */

/*
 * Set while cs_packed_build reads binary input: what fails there is bad
 * input (22P02); anywhere else the readers walk a stored value that passed
 * that check when it was written, so a failure is damage (XX001).
 */
static bool reading_input = false;

pg_noreturn static void
Corrupt(const char *detail)
{
	if (!reading_input)
		lk_corrupt("close_summary", detail);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid binary input for type close_summary"),
			 errdetail("%c%s.", pg_toupper((unsigned char) detail[0]), detail + 1)));
}

static inline void
PutVarint(StringInfo buf, uint64 v)
{
	uint8 b[10];
	int	  n = 0;

	while (v >= 0x80)
	{
		b[n++] = (uint8) (v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8) v;
	appendBinaryStringInfo(buf, (const char *) b, n);
}

static inline void
PutCount(StringInfo buf, int64 v)
{
	if (v < 0)
		elog(ERROR, "close_summary: a negative count cannot be packed");
	PutVarint(buf, (uint64) v);
}

static inline uint64
GetVarint(const uint8 **pp, const uint8 *end)
{
	const uint8 *p = *pp;
	uint64		 v = 0;

	for (int shift = 0;; shift += 7)
	{
		uint8 b;

		if (p >= end || shift > 63)
			Corrupt("a number is truncated or too long");
		b = *p++;
		if (shift == 63 && b > 1)
			Corrupt("a number is out of range");
		v |= (uint64) (b & 0x7F) << shift;
		if (!(b & 0x80))
			break;
	}
	*pp = p;
	return v;
}

/* A count: a varint within int64 */
static inline int64
GetCount(const uint8 **pp, const uint8 *end)
{
	uint64 v = GetVarint(pp, end);

	if (v > (uint64) PG_INT64_MAX)
		Corrupt("a count is out of range");
	return (int64) v;
}

/* The 128-bit sum of an amount: the only two places that know its layout. */
static inline int128
MoneySum(const LkMoney *m)
{
	return m->sum;
}

static inline void
SetMoneySum(LkMoney *m, int128 v)
{
	m->sum = v;
}

static void
PutMoney(StringInfo buf, const LkMoney *m)
{
	int128	x = MoneySum(m);
	uint128 z = ((uint128) x << 1) ^ (uint128) (x >> 127); /* zigzag */
	uint8	b[19];
	int		n = 0;

	if (!lk_money_present(m))
		elog(ERROR, "close_summary: an absent amount cannot be packed");
	PutVarint(buf, (uint64) m->dscale);
	while (z >= 0x80)
	{
		b[n++] = (uint8) (z | 0x80);
		z >>= 7;
	}
	b[n++] = (uint8) z;
	appendBinaryStringInfo(buf, (const char *) b, n);
}

static void
GetMoney(const uint8 **pp, const uint8 *end, LkMoney *m)
{
	uint64		 dscale = GetVarint(pp, end);
	const uint8 *p = *pp;
	uint128		 z = 0;

	if (dscale > LK_MONEY_MAX_DSCALE)
		Corrupt("an amount's scale is out of range");
	for (int shift = 0;; shift += 7)
	{
		uint8 b;

		if (p >= end || shift > 126)
			Corrupt("an amount is truncated or too long");
		b = *p++;
		if (shift == 126 && b > 3)
			Corrupt("an amount is out of range");
		z |= (uint128) (b & 0x7F) << shift;
		if (!(b & 0x80))
			break;
	}
	*pp = p;
	lk_money_init(m);
	m->dscale = (int32) dscale;
	SetMoneySum(m, (int128) (z >> 1) ^ -(int128) (z & 1));
}

/* ---------------------------------------------------------------------------
 * Readers of every form
 * ------------------------------------------------------------------------- */

/*
 * What the readers rely on before they walk a value, in O(blocks): the
 * header's ranges, a size that fits the form, and for the packed form block
 * instants in order and encodings that tile the data (each at least its
 * windows' bytes).  The encodings themselves are read with bounds checks.
 * Dense and list forms exist only in memory; a size check keeps a damaged
 * flags byte from reaching their readers.
 */
static const char *
CsCheckLayout(const CloseSummary *s)
{
	Size size = VARSIZE(s);
	int	 H = s->horizons,
		A = s->nages;
	const int64 *ts;
	const int32 *off;
	Size		 len;
	const char	*bad;

	if (size < offsetof(CloseSummary, age_bounds))
		return "shorter than its header";
	if (s->version != CLOSE_SUMMARY_VERSION)
		return "unknown version";
	if (A >= 1 && A <= CS_MAX_AGES && size < CS_HEADER_SIZE(A))
		return "shorter than its header";
	if ((bad = cs_check_header(s)) != NULL)
		return bad;
	if (s->flags == CS_DENSE || s->flags == CS_LIST)
	{
		if ((s->flags == CS_DENSE && s->ncells != s->nblocks * s->nstages * A) ||
			size != CS_SIZE(H, A, s->nblocks, s->ncells))
			return "the size disagrees with the header";
		return NULL;
	}
	if (s->flags != 0)
		return "unknown flags";
	if (size < CS_HEADER_SIZE(A) + (sizeof(int64) + sizeof(int32)) * (Size) s->nblocks + sizeof(int32))
		return "shorter than its snapshot index";
	ts = cs_packed_t(s);
	off = cs_packed_off(s);
	len = size - (Size) ((const char *) cs_packed_data(s) - (const char *) s);
	if (off[0] != 0 || (Size) off[s->nblocks] != len)
		return "the snapshot offsets disagree with the size";
	for (int32 k = 0; k < s->nblocks; k++)
	{
		if (TIMESTAMP_NOT_FINITE(ts[k]) || (k > 0 && ts[k] <= ts[k - 1]))
			return "snapshot instants out of order";
		if (off[k + 1] < off[k] || off[k + 1] - off[k] < 1 + H)
			return "a snapshot's offsets are out of range";
	}
	return NULL;
}

CloseSummary *
cs_detoast(Datum d)
{
	CloseSummary *s = (CloseSummary *) PG_DETOAST_DATUM(d);
	const char	 *msg = CsCheckLayout(s);

	if (unlikely(msg != NULL))
		lk_corrupt("close_summary", msg);
	return s;
}

/* The first cell of block k or later in a list form (cells are sorted by block). */
static int32
FirstCell(const CloseSummary *s, int32 k)
{
	int32 lo = 0,
		  hi = s->ncells;

	while (lo < hi)
	{
		int32 mid = lo + (hi - lo) / 2;

		if (cs_cell(s, mid)->block < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Decodes a packed block's header at p (its cells follow) into v. */
static const uint8 *
DecodeBlock(const CloseSummary *s, int64 t, const uint8 *p, const uint8 *end, CsBlockView *v)
{
	int	   H = s->horizons;
	uint64 obs = GetVarint(&p, end);
	int64  prev = t;

	if (obs > (uint64) H)
		Corrupt("the observed windows are out of range");
	v->t = t;
	v->obs = (int) obs;
	v->end[0] = t;
	for (int h = 1; h <= H; h++)
	{
		uint64 d = GetVarint(&p, end);

		if (d == 0 || d > (uint64) PG_INT64_MAX || __builtin_add_overflow(prev, (int64) d, &prev))
			Corrupt("a window is empty or out of range");
		v->end[h] = prev;
	}
	for (int h = 1; h <= H; h++)
	{
		if (h <= v->obs)
		{
			v->arrivals[h] = GetCount(&p, end);
			v->closings[h] = GetCount(&p, end);
			v->revenue_n[h] = GetCount(&p, end);
		}
		else
			v->arrivals[h] = v->closings[h] = v->revenue_n[h] = 0;
	}
	for (int i = 0; i < CS_NEW_PAIRS(H); i++)
		v->new_won[i] = i < CS_NEW_PAIRS(v->obs) ? GetCount(&p, end) : 0;
	for (int h = 1; h <= H; h++)
	{
		if (v->revenue_n[h] > 0)
		{
			GetMoney(&p, end, &v->revenue[h]);
			GetMoney(&p, end, &v->revenue_sq[h]);
		}
		else
		{
			lk_money_init(&v->revenue[h]);
			lk_money_init(&v->revenue_sq[h]);
		}
	}
	{
		uint64 n = GetVarint(&p, end);

		if (n > (uint64) s->nstages * s->nages)
			Corrupt("a snapshot has too many cells");
		v->ncells = v->left = (int32) n;
	}
	return p;
}

void
cs_block_view(const CloseSummary *s, int32 k, CsBlockView *v)
{
	int H = s->horizons;

	v->s = s;
	v->block = k;
	if (!(s->flags & CS_UNPACKED))
	{
		const uint8 *data = cs_packed_data(s);
		const int32 *off = cs_packed_off(s);

		v->pend = data + off[k + 1];
		v->p = DecodeBlock(s, cs_packed_t(s)[k], data + off[k], v->pend, v);
		return;
	}
	{
		const CsBlock *b = cs_block(s, k);

		v->t = b->t;
		v->obs = b->obs;
		v->end[0] = b->t;
		for (int h = 1; h <= H; h++)
		{
			v->end[h] = CS_END(b, h);
			v->arrivals[h] = CS_ARRIVALS(s, b, h);
			v->closings[h] = CS_CLOSINGS(s, b, h);
			v->revenue_n[h] = CS_REVENUE_N(s, b, h);
			v->revenue[h] = *cs_revenue(s, b, h);
			v->revenue_sq[h] = *cs_revenue_sq(s, b, h);
		}
		memcpy(v->new_won, &CS_NEW_WON(s, b, 1, 1), sizeof(int64) * CS_NEW_PAIRS(H));
	}
	if (s->flags & CS_DENSE)
	{
		v->next = k * s->nstages * s->nages;
		v->left = s->nstages * s->nages;
	}
	else
	{
		int32 i = FirstCell(s, k);

		v->next = i;
		while (i < s->ncells && cs_cell(s, i)->block == k)
			i++;
		v->left = i - v->next;
	}
	v->ncells = -1; /* unknown until read: dense blocks have cells without leads */
}

bool
cs_next_cell(CsBlockView *v, CsCellView *c)
{
	const CloseSummary *s = v->s;
	int					H = s->horizons;

	if (!(s->flags & CS_UNPACKED))
	{
		const uint8 *p = v->p,
					*end = v->pend;
		int	  nb;
		uint8 bits[(2 * CS_MAX_HORIZONS + 7) / 8];

		if (v->left == 0)
			return false;
		v->left--;
		if (end - p < 2)
			Corrupt("a cell is truncated");
		c->stage = *p++;
		c->age = *p++;
		if (c->stage >= s->nstages || c->age >= s->nages)
			Corrupt("a cell is out of range");
		c->n = GetCount(&p, end);
		c->amount_n = GetCount(&p, end);
		if (c->amount_n > 0)
		{
			GetMoney(&p, end, &c->amount);
			GetMoney(&p, end, &c->amount_sq);
		}
		else
		{
			lk_money_init(&c->amount);
			lk_money_init(&c->amount_sq);
		}
		nb = (2 * v->obs + 7) / 8;
		if (end - p < nb)
			Corrupt("a cell is truncated");
		memcpy(bits, p, nb);
		p += nb;
		/* the won values, then the lost ones, of the windows whose bit is set */
		for (int h = 1; h <= H; h++)
			c->won[h] = h <= v->obs && (bits[(h - 1) / 8] & (1 << ((h - 1) % 8))) ? GetCount(&p, end) : 0;
		for (int h = 1; h <= H; h++)
		{
			int i = v->obs + h - 1;

			c->lost[h] = h <= v->obs && (bits[i / 8] & (1 << (i % 8))) ? GetCount(&p, end) : 0;
		}
		v->p = p;
		return true;
	}
	while (v->left > 0)
	{
		const CsCell *x = cs_cell(s, v->next);

		v->next++;
		v->left--;
		if (x->n == 0)
			continue;
		c->stage = x->stage;
		c->age = x->age;
		c->n = x->n;
		c->amount_n = x->amount_n;
		c->amount = x->amount;
		c->amount_sq = x->amount_sq;
		for (int h = 1; h <= H; h++)
		{
			c->won[h] = CS_WON(s, x, h);
			c->lost[h] = CS_LOST(s, x, h);
		}
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------------------
 * Packing
 * ------------------------------------------------------------------------- */

static void
PutBlock(StringInfo buf, const CloseSummary *s, CsBlockView *v, int *top, int32 *ncells)
{
	int			H = s->horizons;
	CsCellView	c;
	int32		n = 0;
	CsBlockView again;

	PutVarint(buf, (uint64) v->obs);
	for (int h = 1; h <= H; h++)
		PutVarint(buf, (uint64) (v->end[h] - v->end[h - 1]));
	for (int h = 1; h <= v->obs; h++)
	{
		PutCount(buf, v->arrivals[h]);
		PutCount(buf, v->closings[h]);
		PutCount(buf, v->revenue_n[h]);
	}
	for (int i = 0; i < CS_NEW_PAIRS(v->obs); i++)
		PutCount(buf, v->new_won[i]);
	for (int h = 1; h <= v->obs; h++)
		if (v->revenue_n[h] > 0)
		{
			PutMoney(buf, &v->revenue[h]);
			PutMoney(buf, &v->revenue_sq[h]);
		}
	/* the cells with leads: counted first */
	again = *v;
	while (cs_next_cell(&again, &c))
		n++;
	PutVarint(buf, (uint64) n);
	*ncells += n;
	while (cs_next_cell(v, &c))
	{
		uint8 bits[(2 * CS_MAX_HORIZONS + 7) / 8] = { 0 };
		int	  nb = (2 * v->obs + 7) / 8;

		*top = Max(*top, c.stage);
		appendStringInfoChar(buf, (char) c.stage);
		appendStringInfoChar(buf, (char) c.age);
		PutCount(buf, c.n);
		PutCount(buf, c.amount_n);
		if (c.amount_n > 0)
		{
			PutMoney(buf, &c.amount);
			PutMoney(buf, &c.amount_sq);
		}
		for (int h = 1; h <= v->obs; h++)
		{
			if (c.won[h] != 0)
				bits[(h - 1) / 8] |= 1 << ((h - 1) % 8);
			if (c.lost[h] != 0)
				bits[(v->obs + h - 1) / 8] |= 1 << ((v->obs + h - 1) % 8);
		}
		appendBinaryStringInfo(buf, (const char *) bits, nb);
		for (int h = 1; h <= v->obs; h++)
			if (c.won[h] != 0)
				PutCount(buf, c.won[h]);
		for (int h = 1; h <= v->obs; h++)
			if (c.lost[h] != 0)
				PutCount(buf, c.lost[h]);
	}
}

CloseSummary *
cs_pack(const CloseSummary *s)
{
	StringInfoData data;
	int32		  *off = palloc(sizeof(int32) * (s->nblocks + 1));
	int64		  *ts = palloc(sizeof(int64) * Max(s->nblocks, 1));
	int			   top = 0;
	int32		   ncells = 0;
	Size		   size;
	CloseSummary  *p;
	CsBlockView	  *v = palloc(sizeof(CsBlockView));

	initStringInfo(&data);
	for (int32 k = 0; k < s->nblocks; k++)
	{
		off[k] = data.len;
		cs_block_view(s, k, v);
		ts[k] = v->t;
		PutBlock(&data, s, v, &top, &ncells);
	}
	off[s->nblocks] = data.len;
	size = CS_HEADER_SIZE(s->nages) + sizeof(int64) * s->nblocks + sizeof(int32) * (s->nblocks + 1) + data.len;
	p = palloc0(size);
	SET_VARSIZE(p, size);
	p->version = CLOSE_SUMMARY_VERSION;
	p->flags = 0;
	p->horizons = s->horizons;
	p->nages = s->nages;
	p->nstages = (uint8) (top + 1);
	p->nblocks = s->nblocks;
	p->ncells = ncells;
	p->leads = s->leads;
	p->excluded = s->excluded;
	memcpy(p->age_bounds, s->age_bounds, sizeof(int64) * (s->nages - 1));
	memcpy((char *) cs_packed_t(p), ts, sizeof(int64) * s->nblocks);
	memcpy((char *) cs_packed_off(p), off, sizeof(int32) * (s->nblocks + 1));
	memcpy((char *) cs_packed_data(p), data.data, data.len);
	pfree(data.data);
	pfree(off);
	pfree(ts);
	pfree(v);
	return p;
}

/*
 * A packed summary from its parts as the binary form sends them: the header
 * (in h, without blocks), the blocks' instants and the encodings.  Finds
 * where each block's encoding ends by reading it; the caller validates the
 * counts and that the value is canonical.
 */
static CloseSummary *
PackedBuild(const CloseSummary *h, const int64 *ts, const char *bytes, Size len)
{
	Size		  size;
	CloseSummary *p;
	int32		 *off;
	const uint8	 *data,
		*at,
		*end;
	CsBlockView *v = palloc(sizeof(CsBlockView));
	CsCellView	*c = palloc(sizeof(CsCellView));
	int64		 ncells = 0;

	if (len > (Size) PG_INT32_MAX)
		Corrupt("the value is too long");
	size = CS_HEADER_SIZE(h->nages) + sizeof(int64) * h->nblocks + sizeof(int32) * (h->nblocks + 1) + len;
	p = palloc0(size);
	SET_VARSIZE(p, size);
	memcpy(p, h, offsetof(CloseSummary, age_bounds) + sizeof(int64) * (h->nages - 1));
	SET_VARSIZE(p, size);
	memcpy((char *) cs_packed_t(p), ts, sizeof(int64) * h->nblocks);
	memcpy((char *) cs_packed_data(p), bytes, len);
	off = (int32 *) cs_packed_off(p);
	data = cs_packed_data(p);
	end = data + len;
	at = data;
	for (int32 k = 0; k < p->nblocks; k++)
	{
		off[k] = (int32) (at - data);
		v->s = p;
		v->block = k;
		v->pend = end;
		v->p = DecodeBlock(p, ts[k], at, end, v);
		while (cs_next_cell(v, c))
			ncells++;
		at = v->p;
	}
	off[p->nblocks] = (int32) (at - data);
	if (at != end)
		Corrupt("the value has bytes after its last snapshot");
	if (ncells != p->ncells)
		Corrupt("the number of cells disagrees with the snapshots");
	pfree(v);
	pfree(c);
	return p;
}

CloseSummary *
cs_packed_build(const CloseSummary *h, const int64 *ts, const char *bytes, Size len)
{
	CloseSummary *volatile p = NULL;

	reading_input = true;
	PG_TRY();
	{
		p = PackedBuild(h, ts, bytes, len);
	}
	PG_FINALLY();
	{
		reading_input = false;
	}
	PG_END_TRY();
	return p;
}
