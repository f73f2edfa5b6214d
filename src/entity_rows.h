/*
 * entity_rows.h: rows keyed by an entity (a lead, a user), for aggregates
 * whose final function groups them by entity without a SQL GROUP BY.
 *
 * Rows of one or two kinds (e.g. leads and their stage events) are kept in
 * partitions by the top bits of their entity's hash as they arrive, so the
 * final function takes one partition at a time and numbers its entities in
 * a table that stays in cache; a partition's rows can be freed once it is
 * done.  The transition function only appends: no big hash table, whose
 * cache misses would dominate, and no copy into partitions at the end.
 *
 * An entity is a bigint (its own key), a uuid or a text (compared
 * bytewise).  The bytes of a uuid or text are kept once in an arena that
 * never moves, consecutive equal keys sharing them, and the key is their
 * address.
 */
#ifndef LEADKPI_ENTITY_ROWS_H
#define LEADKPI_ENTITY_ROWS_H

#include "leadkpi.h"

#define LK_ROWS_PART_BITS 8
#define LK_ROWS_NPARTS (1 << LK_ROWS_PART_BITS)
#define LK_ROWS_MAX_KINDS 3

typedef enum LkEntityKind
{
	LK_ENTITY_INT8,
	LK_ENTITY_TEXT,
	LK_ENTITY_UUID
} LkEntityKind;

/* The head of every row; the caller's fields follow. */
typedef struct LkEntityRef
{
	uint64 key; /* the bigint, or the address of a uint32 length and the bytes */
	uint32 hash;
	int32  tag; /* the caller's (a step, a group) */
} LkEntityRef;

typedef struct LkRowChunk
{
	struct LkRowChunk *next;
	int32			   n;
	int32			   cap;
	/* rows follow, each MAXALIGNed */
} LkRowChunk;

#define LK_ROW_CHUNK_DATA(c) ((char *) (c) + MAXALIGN(sizeof(LkRowChunk)))

typedef struct LkRowList
{
	LkRowChunk *head;
	LkRowChunk *tail;
	int64		n;
} LkRowList;

typedef struct LkKeyChunk
{
	struct LkKeyChunk *next;
	Size			   used;
	Size			   cap;
	/* bytes follow */
} LkKeyChunk;

typedef struct LkEntityRows
{
	MemoryContext cxt;
	LkEntityKind  kind;
	int			  nkinds;
	Size		  width[LK_ROWS_MAX_KINDS]; /* MAXALIGNed, the head included */
	int64		  nrows[LK_ROWS_MAX_KINDS];
	LkRowList	  parts[LK_ROWS_NPARTS][LK_ROWS_MAX_KINDS];
	LkKeyChunk	 *keys; /* the arena of byte keys, newest chunk first */
	Size		  key_bytes;
	const char	 *last_key; /* the key appended last, to share equal ones */
	uint32		  last_hash;
} LkEntityRows;

/* The kind of entity of a column type: bigint, uuid, anything else as text. */
extern LkEntityKind lk_entity_kind(Oid type);

extern LkEntityRows *lk_rows_create(MemoryContext cxt, LkEntityKind kind, int nkinds, const Size *width);

/* Room for a new row at the end of list l (rows of `width` bytes), not initialized. */
extern void *lk_row_list_push(MemoryContext cxt, LkRowList *l, Size width);

/*
 * A new, empty last chunk of list l (n 0, its cap rows growing chunk by
 * chunk), for callers that fill chunks themselves and set their n.
 */
extern LkRowChunk *lk_row_list_add_chunk(MemoryContext cxt, LkRowList *l, Size width);

/*
 * A new row of kind `rowkind` for the entity in `d` (a non-null bigint, uuid
 * or text datum, by the rows' kind), its head filled (tag 0), the rest for
 * the caller to fill.
 */
extern void *lk_rows_append(LkEntityRows *r, int rowkind, Datum d);

/* The same for a bigint entity, or the bytes of a text or uuid one. */
extern void *lk_rows_append_int8(LkEntityRows *r, int rowkind, int64 key);
extern void *lk_rows_append_bytes(LkEntityRows *r, int rowkind, const char *b, uint32 len);

/* A new row of kind `rowkind` without an entity (key, hash and tag 0, in partition 0). */
extern void *lk_rows_append_keyless(LkEntityRows *r, int rowkind);

/* Moves every row and key of src into dst (same kinds and widths); src is empty after. */
extern void lk_rows_absorb(LkEntityRows *dst, LkEntityRows *src);

/* Frees the rows of partition p (all kinds). */
extern void lk_rows_free_part(LkEntityRows *r, int p);

/* Frees the rows of a list. */
extern void lk_row_list_free(LkRowList *l);

static inline bool
lk_entity_equal(const LkEntityRows *r, uint64 a, uint64 b)
{
	uint32 la,
		lb;

	if (a == b)
		return true;
	if (r->kind == LK_ENTITY_INT8)
		return false;
	memcpy(&la, (const char *) (uintptr_t) a, sizeof(uint32));
	memcpy(&lb, (const char *) (uintptr_t) b, sizeof(uint32));
	return la == lb && memcmp((const char *) (uintptr_t) a + 4, (const char *) (uintptr_t) b + 4, la) == 0;
}

/* The bytes of a text or uuid key and their length. */
static inline const char *
lk_entity_bytes(uint64 key, uint32 *len)
{
	memcpy(len, (const char *) (uintptr_t) key, sizeof(uint32));
	return (const char *) (uintptr_t) key + 4;
}

/*
 * Iterating over the rows of one kind in one partition:
 *   for (LkRowIter it = lk_rows_iter(r, p, kind); lk_rows_next(&it); ) use it.row
 */
typedef struct LkRowIter
{
	LkRowChunk *chunk;
	int32		i;
	Size		width;
	void	   *row;
} LkRowIter;

static inline LkRowIter
lk_row_list_iter(const LkRowList *l, Size width)
{
	LkRowIter it;

	it.chunk = l->head;
	it.i = -1;
	it.width = width;
	it.row = NULL;
	return it;
}

static inline LkRowIter
lk_rows_iter(const LkEntityRows *r, int p, int kind)
{
	return lk_row_list_iter(&r->parts[p][kind], r->width[kind]);
}

static inline bool
lk_rows_next(LkRowIter *it)
{
	while (it->chunk != NULL)
	{
		if (++it->i < it->chunk->n)
		{
			it->row = LK_ROW_CHUNK_DATA(it->chunk) + (Size) it->i * it->width;
			return true;
		}
		it->chunk = it->chunk->next;
		it->i = -1;
	}
	return false;
}

/*
 * Numbering the entities of one partition: an open-addressing table with
 * linear probing over int32 slots, sized up front for at most `capacity`
 * entities (it only ever inserts, the case where this beat lib/simplehash.h
 * in funnel_agg).  The low bits of the hash pick the slot: the top ones
 * picked the partition.
 */
typedef struct LkEntityTable
{
	int32  *slots; /* entity + 1, or 0 for a free slot */
	uint64 *keys;  /* per entity */
	uint32 *hashes;
	uint64	mask;
	uint64	size; /* slots allocated */
	int32	n;
} LkEntityTable;

extern void lk_entity_table_init(LkEntityTable *t, int64 capacity);
extern void lk_entity_table_reset(LkEntityTable *t, int64 capacity);

/* The entity of a row: its number, inserting it when `insert`, else -1 when absent. */
static inline int32
lk_entity_table_lookup(LkEntityTable *t, const LkEntityRows *r, const LkEntityRef *row, bool insert)
{
	uint64 h = row->hash & t->mask;
	int32  e;

	while ((e = t->slots[h] - 1) >= 0 &&
		   !(t->hashes[e] == row->hash && lk_entity_equal(r, t->keys[e], row->key)))
		h = (h + 1) & t->mask;
	if (e < 0 && insert)
	{
		e = t->n++;
		t->slots[h] = e + 1;
		t->keys[e] = row->key;
		t->hashes[e] = row->hash;
	}
	return e;
}

#endif /* LEADKPI_ENTITY_ROWS_H */
