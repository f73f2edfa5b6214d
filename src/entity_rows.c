/*
 * entity_rows.c: rows keyed by an entity, kept in partitions by the
 * entity's hash as they arrive (see entity_rows.h).
 */
#include "entity_rows.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/memutils.h"

/* A partition's chunks grow from this many rows, doubling up to about 64 kB. */
#define LK_ROWS_FIRST_CHUNK 16
#define LK_ROWS_CHUNK_BYTES 65536
#define LK_KEYS_CHUNK_BYTES 65536

/* bigint entities: murmur3's 64-bit finalizer, cheap and mixing every bit */
static inline uint32
HashInt64(uint64 x)
{
	x ^= x >> 33;
	x *= UINT64CONST(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64CONST(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return (uint32) x;
}

LkEntityKind
lk_entity_kind(Oid type)
{
	return type == INT8OID ? LK_ENTITY_INT8 : type == UUIDOID ? LK_ENTITY_UUID :
																LK_ENTITY_TEXT;
}

LkEntityRows *
lk_rows_create(MemoryContext cxt, LkEntityKind kind, int nkinds, const Size *width)
{
	LkEntityRows *r = MemoryContextAllocZero(cxt, sizeof(LkEntityRows));

	Assert(nkinds >= 1 && nkinds <= LK_ROWS_MAX_KINDS);
	r->cxt = cxt;
	r->kind = kind;
	r->nkinds = nkinds;
	for (int k = 0; k < nkinds; k++)
	{
		Assert(width[k] >= sizeof(LkEntityRef));
		r->width[k] = MAXALIGN(width[k]);
	}
	return r;
}

/* The address of a byte key in the arena, stored unless it equals the last one. */
static uint64
StoreKey(LkEntityRows *r, const char *b, uint32 n, uint32 *hash)
{
	uint32		last_len;
	LkKeyChunk *c = r->keys;
	char	   *at;

	if (r->last_key)
	{
		memcpy(&last_len, r->last_key, sizeof(uint32));
		if (last_len == n && memcmp(r->last_key + 4, b, n) == 0)
		{
			*hash = r->last_hash;
			return (uint64) (uintptr_t) r->last_key;
		}
	}
	if (c == NULL || c->cap - c->used < 4 + (Size) n)
	{
		Size cap = Max(LK_KEYS_CHUNK_BYTES, 4 + (Size) n);

		c = MemoryContextAlloc(r->cxt, MAXALIGN(sizeof(LkKeyChunk)) + cap);
		c->used = 0;
		c->cap = cap;
		c->next = r->keys;
		r->keys = c;
	}
	at = (char *) c + MAXALIGN(sizeof(LkKeyChunk)) + c->used;
	memcpy(at, &n, sizeof(uint32));
	memcpy(at + 4, b, n);
	c->used += 4 + (Size) n;
	r->key_bytes += 4 + (Size) n;
	*hash = hash_bytes((const unsigned char *) b, (int) n);
	r->last_key = at;
	r->last_hash = *hash;
	return (uint64) (uintptr_t) at;
}

LkRowChunk *
lk_row_list_add_chunk(MemoryContext cxt, LkRowList *l, Size width)
{
	LkRowChunk *c = l->tail;
	int32		cap = c == NULL ? LK_ROWS_FIRST_CHUNK : Max(c->cap, Min(2 * c->cap, (int32) (LK_ROWS_CHUNK_BYTES / width)));

	c = MemoryContextAlloc(cxt, MAXALIGN(sizeof(LkRowChunk)) + (Size) cap * width);
	c->next = NULL;
	c->n = 0;
	c->cap = cap;
	if (l->tail)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
	return c;
}

void *
lk_row_list_push(MemoryContext cxt, LkRowList *l, Size width)
{
	LkRowChunk *c = l->tail;
	void	   *row;

	if (unlikely(c == NULL || c->n == c->cap))
		c = lk_row_list_add_chunk(cxt, l, width);
	row = LK_ROW_CHUNK_DATA(c) + (Size) c->n++ * width;
	l->n++;
	return row;
}

static inline void *
AppendRow(LkEntityRows *r, int rowkind, uint64 key, uint32 hash)
{
	LkEntityRef *row = lk_row_list_push(r->cxt, &r->parts[hash >> (32 - LK_ROWS_PART_BITS)][rowkind],
										r->width[rowkind]);

	row->key = key;
	row->hash = hash;
	row->tag = 0;
	r->nrows[rowkind]++;
	return row;
}

void *
lk_rows_append_int8(LkEntityRows *r, int rowkind, int64 key)
{
	Assert(r->kind == LK_ENTITY_INT8);
	return AppendRow(r, rowkind, (uint64) key, HashInt64((uint64) key));
}

void *
lk_rows_append_bytes(LkEntityRows *r, int rowkind, const char *b, uint32 len)
{
	uint32 hash;
	uint64 key;

	Assert(r->kind != LK_ENTITY_INT8);
	key = StoreKey(r, b, len, &hash);
	return AppendRow(r, rowkind, key, hash);
}

void *
lk_rows_append(LkEntityRows *r, int rowkind, Datum d)
{
	if (r->kind == LK_ENTITY_INT8)
		return lk_rows_append_int8(r, rowkind, DatumGetInt64(d));
	if (r->kind == LK_ENTITY_UUID)
		return lk_rows_append_bytes(r, rowkind, DatumGetPointer(d), 16);
	{
		text *t = DatumGetTextPP(d);

		return lk_rows_append_bytes(r, rowkind, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}

void *
lk_rows_append_keyless(LkEntityRows *r, int rowkind)
{
	LkEntityRef *row = lk_row_list_push(r->cxt, &r->parts[0][rowkind], r->width[rowkind]);

	row->key = 0;
	row->hash = 0;
	row->tag = 0;
	r->nrows[rowkind]++;
	return row;
}

void
lk_rows_absorb(LkEntityRows *dst, LkEntityRows *src)
{
	Assert(dst->kind == src->kind && dst->nkinds == src->nkinds);
	for (int p = 0; p < LK_ROWS_NPARTS; p++)
		for (int k = 0; k < dst->nkinds; k++)
		{
			LkRowList *d = &dst->parts[p][k],
					  *s = &src->parts[p][k];

			if (s->head == NULL)
				continue;
			if (d->tail)
				d->tail->next = s->head;
			else
				d->head = s->head;
			d->tail = s->tail;
			d->n += s->n;
			s->head = s->tail = NULL;
			s->n = 0;
		}
	for (int k = 0; k < dst->nkinds; k++)
	{
		dst->nrows[k] += src->nrows[k];
		src->nrows[k] = 0;
	}
	/* the keys stay where they are: rows point at them; the chunks join dst's list */
	while (src->keys)
	{
		LkKeyChunk *c = src->keys;

		src->keys = c->next;
		c->next = dst->keys ? dst->keys->next : NULL;
		if (dst->keys)
			dst->keys->next = c; /* behind dst's newest, which keeps filling */
		else
			dst->keys = c;
	}
	dst->key_bytes += src->key_bytes;
	src->key_bytes = 0;
	src->last_key = NULL;
}

void
lk_row_list_free(LkRowList *l)
{
	for (LkRowChunk *c = l->head; c;)
	{
		LkRowChunk *next = c->next;

		pfree(c);
		c = next;
	}
	l->head = l->tail = NULL;
	l->n = 0;
}

void
lk_rows_free_part(LkEntityRows *r, int p)
{
	for (int k = 0; k < r->nkinds; k++)
	{
		r->nrows[k] -= r->parts[p][k].n;
		lk_row_list_free(&r->parts[p][k]);
	}
}

void
lk_entity_table_init(LkEntityTable *t, int64 capacity)
{
	uint64 size = 16;

	while (size < 2 * (uint64) Max(capacity, 1))
		size *= 2;
	t->slots = palloc_extended(size * sizeof(int32), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	t->keys = palloc_extended(Max(capacity, 1) * sizeof(uint64), MCXT_ALLOC_HUGE);
	t->hashes = palloc_extended(Max(capacity, 1) * sizeof(uint32), MCXT_ALLOC_HUGE);
	t->mask = size - 1;
	t->size = size;
	t->n = 0;
}

/* Empties the table for at most `capacity` entities (no more than it was made for). */
void
lk_entity_table_reset(LkEntityTable *t, int64 capacity)
{
	uint64 size = 16;

	while (size < 2 * (uint64) Max(capacity, 1))
		size *= 2;
	Assert(size <= t->size);
	t->mask = size - 1;
	memset(t->slots, 0, size * sizeof(int32));
	t->n = 0;
}
