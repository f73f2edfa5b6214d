/*
 * money.h: exact sums of numeric amounts (cost, revenue) in a fixed-size,
 * in-place updatable form.
 *
 * An amount is held as a 128-bit integer scaled by 10^dscale, where dscale is
 * the largest display scale seen, as sum(numeric) would report it.  That is
 * exact for 38 significant digits; a total that needs more is an error, never
 * a rounded value.
 */
#ifndef LEADKPI_MONEY_H
#define LEADKPI_MONEY_H

#include "leadkpi.h"

typedef struct LkMoney
{
	int128 sum;	   /* value * 10^dscale */
	int32  dscale; /* -1 while no amount has been added */
	int32  pad;
} LkMoney;

#define LK_MONEY_MAX_DSCALE 16383 /* numeric's own limit */

static inline void
lk_money_init(LkMoney *m)
{
	memset(m, 0, sizeof(LkMoney));
	m->dscale = -1;
}

static inline bool
lk_money_present(const LkMoney *m)
{
	return m->dscale >= 0;
}

/* Adds a numeric datum; `what` names the argument in errors. No palloc. */
extern void lk_money_add_numeric(LkMoney *m, Datum num, const char *what);

/* m += other (exact; errors on overflow). */
extern void lk_money_add(LkMoney *m, const LkMoney *other, const char *what);

/*
 * m -= other, both present, other at no larger a scale than m's; the result
 * keeps m's scale (exact; errors on overflow).
 */
extern void lk_money_sub(LkMoney *m, const LkMoney *other, const char *what);

/*
 * sq = the square of amount m rounded to cents (scale 4, exact); absent when
 * m is.  For variances: every square has the same scale, so their sums stay
 * exact and merge in any order.
 */
extern void lk_money_square_cents(LkMoney *sq, const LkMoney *m, const char *what);

/* The sum as a numeric of scale dscale; m must be present. */
extern Datum lk_money_numeric(const LkMoney *m);

/* Text form: a plain decimal with exactly dscale fraction digits, or "null". */
extern void lk_money_out(StringInfo buf, const LkMoney *m);

/* Parses the text form at *p; false on malformed input. */
extern bool lk_money_in(const char **p, LkMoney *m);

extern void lk_money_send(StringInfo buf, const LkMoney *m);
/* Reads the binary form; false when truncated.  Check with lk_money_validate. */
extern bool lk_money_recv(StringInfo buf, LkMoney *m);

/*
 * What every input path checks: a scale within numeric's, an absent amount
 * of all zeros, a sum within +-(2^127 - 1).  NULL when valid, else a message.
 */
extern const char *lk_money_validate(const LkMoney *m);

#endif /* LEADKPI_MONEY_H */
