/*
 * Reductions of integer (int64, uint8) tensors, called by ops_reduce.c for
 * non-float32 inputs. dim is 0-based (negative from the end) or
 * MG_ALL_DIMS for the whole tensor; indices are 0-based int64.
 */
#ifndef MG_REDUCE_INT_H
#define MG_REDUCE_INT_H

#include "internal.h"

/* int64 sums (wrapping on overflow). */
mg_tensor *mg_int_sum(const mg_tensor *t, int dim, bool keepdim);
/* float32 means, summed in double. */
mg_tensor *mg_int_mean(const mg_tensor *t, int dim, bool keepdim);
/* Max (sign 1) or min (sign -1) values of t's dtype and their first
 * index; indices may be NULL. */
int mg_int_extreme(const char *op, const mg_tensor *t, int dim, bool keepdim, int sign, mg_tensor **values,
                   mg_tensor **indices);

#endif
