/* Transactional workloads (list-append, rw-register): the micro-ops of one
 * transaction and their JSON form in histories. Clients that run them
 * (clients/postgres_txn.c) fill fl_wl_result.txn with fl_wl_txn_render. */
#ifndef FL_WORKLOAD_TXN_H
#define FL_WORKLOAD_TXN_H

#include "workload/workload.h"

/* The transaction as a JSON array of [f, key, value] micro-ops; reads show
 * reads[i] (JSON text of what micro-op i saw) or null when reads is NULL
 * or reads[i] is NULL. malloc'd; NULL when out of memory. */
char *fl_wl_txn_render(const struct fl_wl_op *op, char *const *reads);

/* Is this workload transactional (its ops are FL_WL_TXN)? */
bool fl_wl_txn_workload(const struct fl_wl_ops *w);

#endif
