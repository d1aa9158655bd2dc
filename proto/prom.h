/*
 * prom.h: metrics in the Prometheus text exposition format (version
 * 0.0.4), built in memory and written atomically, so that a node
 * exporter's textfile collector never reads half a file.  The relay
 * (relay/metrics.c) and the agent (agent/agentd_metrics.c) both write
 * <data>/metrics.prom with it: one HELP and one TYPE line per metric,
 * names ferry_<program>_..., counters ending in _total.
 *
 * A failed allocation is remembered: later calls do nothing and
 * prom_write returns FERRY_ENOMEM, so callers need not check each line.
 */
#ifndef FERRY_PROM_H
#define FERRY_PROM_H

#include <stddef.h>
#include <stdint.h>

struct prom;

/** prom_new(): an empty text, or NULL when out of memory. */
struct prom *prom_new(void);

/** prom_free(p): free ${p}; NULL is a no-op. */
void prom_free(struct prom *p);

/** prom_head(p, name, help, type): the HELP and TYPE lines of ${name}. */
void prom_head(struct prom *p, const char *name, const char *help,
    const char *type);

/**
 * prom_sample(p, name, label, value, v): one sample line of ${name}, with
 * the label ${label}="${value}" when ${label} is not NULL (${value} must
 * need no escaping: an agency id or a word).
 */
void prom_sample(struct prom *p, const char *name, const char *label,
    const char *value, int64_t v);

/** prom_sample_ms(p, name, label, value, ms): as prom_sample, ${ms} shown in seconds (3 decimals). */
void prom_sample_ms(struct prom *p, const char *name, const char *label,
    const char *value, uint64_t ms);

/** prom_u64(p, name, help, type, v): prom_head, then one sample ${v}. */
void prom_u64(struct prom *p, const char *name, const char *help,
    const char *type, uint64_t v);

/** prom_i64(p, name, help, type, v): as prom_u64, for a signed ${v}. */
void prom_i64(struct prom *p, const char *name, const char *help,
    const char *type, int64_t v);

/**
 * prom_write(p, path): write the text to ${path} atomically (temp file,
 * rename; mode 0644), unsynced (ferry_write_file_unsynced).  0,
 * FERRY_ENOMEM if a line was lost, or the error of the write.
 */
int prom_write(const struct prom *p, const char *path);

#endif
