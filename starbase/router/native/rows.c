/* The decoded batch as stored rows: resource and scope columns joined onto each record, in wire
 * order or in the order of the stored files (sb_batch_export_rows, otlp_arrow.h).
 *
 * The decoder keeps resources and scopes once each (decode.c); here every column is gathered
 * row by row through three index arrays (record, its group, its resource), one column at a
 * time, the source column freed as soon as it is copied, so the batch and its rows coexist
 * for one column at most. The file order — UTC day of time_unix_nano, then service bytewise,
 * then time_unix_nano, ties in wire order — is what TableFormat.split sorts by, so storage
 * finds the batch sorted and takes no copy of it; it is computed by stable LSD radix sorts of
 * 32-bit row numbers (time, then service rank, then day; a pass whose byte is the same for
 * every row is skipped), no comparison sort but one of the distinct resources' services.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "otlp_arrow.h"

#define NS_PER_DAY 86400000000000LL
#define SIGN 0x8000000000000000ULL

/* ---------------------------------------------------------------- order */

/* Stable sort of perm[0..n) by key[perm[i]] (unsigned), bytewise from the lowest; *perm and
 * *tmp may be swapped (the result is in *perm). */
static void radix_sort(uint32_t **perm, uint32_t **tmp, size_t n, const uint64_t *key) {
  size_t counts[8][256];
  memset(counts, 0, sizeof counts);
  for (size_t i = 0; i < n; i++) {
    uint64_t k = key[i];
    for (int d = 0; d < 8; d++) counts[d][(k >> (8 * d)) & 255]++;
  }
  for (int d = 0; d < 8; d++) {
    size_t *count = counts[d];
    if (count[(key[0] >> (8 * d)) & 255] == n) continue; /* one value of this byte: no move */
    size_t at = 0;
    for (int v = 0; v < 256; v++) {
      size_t c = count[v];
      count[v] = at;
      at += c;
    }
    uint32_t *from = *perm, *to = *tmp;
    for (size_t i = 0; i < n; i++) {
      uint32_t row = from[i];
      to[count[(key[row] >> (8 * d)) & 255]++] = row;
    }
    *tmp = from;
    *perm = to;
  }
}

static int by_service(const void *a, const void *b, void *context) {
  const sb_str *col = context;
  const int32_t *o = (const int32_t *)col->offsets.data;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  size_t xn = (size_t)(o[x + 1] - o[x]), yn = (size_t)(o[y + 1] - o[y]);
  int c = memcmp(col->bytes.data + o[x], col->bytes.data + o[y], xn < yn ? xn : yn);
  if (c) return c;
  return xn < yn ? -1 : xn > yn ? 1 : (x < y ? -1 : x > y);
}

/* The rank of each resource's service (equal services, equal ranks); NULL on no memory. */
static uint64_t *service_ranks(const sb_str *services) {
  size_t m = (size_t)services->length;
  uint32_t *order = malloc((m ? m : 1) * sizeof *order);
  uint64_t *rank = malloc((m ? m : 1) * sizeof *rank);
  if (!order || !rank) {
    free(order);
    free(rank);
    return NULL;
  }
  for (size_t i = 0; i < m; i++) order[i] = (uint32_t)i;
  qsort_r(order, m, sizeof *order, by_service, (void *)services);
  const int32_t *o = (const int32_t *)services->offsets.data;
  uint64_t r = 0;
  for (size_t i = 0; i < m; i++) {
    if (i) {
      uint32_t x = order[i - 1], y = order[i];
      size_t xn = (size_t)(o[x + 1] - o[x]), yn = (size_t)(o[y + 1] - o[y]);
      if (xn != yn || memcmp(services->bytes.data + o[x], services->bytes.data + o[y], xn)) r++;
    }
    rank[order[i]] = r;
  }
  free(order);
  return rank;
}

/* perm: the rows in file order. 0 on no memory. */
static int file_order(const sb_batch *b, const uint32_t *group_of, uint32_t *perm, size_t n) {
  uint64_t *key = malloc((n ? n : 1) * sizeof *key);
  uint32_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
  uint64_t *rank = service_ranks(&b->s_service);
  if (!key || !tmp || !rank) {
    free(key);
    free(tmp);
    free(rank);
    return 0;
  }
  uint32_t *sorted = perm, *spare = tmp;
  const int64_t *time = (const int64_t *)b->r_time.values.data;
  const uint32_t *resource_of = (const uint32_t *)b->g_resource.values.data;
  if (n) {
    for (size_t i = 0; i < n; i++) key[i] = (uint64_t)time[i] ^ SIGN;
    radix_sort(&sorted, &spare, n, key);
    for (size_t i = 0; i < n; i++) key[i] = rank[resource_of[group_of[i]]];
    radix_sort(&sorted, &spare, n, key);
    for (size_t i = 0; i < n; i++) {
      int64_t t = time[i], day = t / NS_PER_DAY - (t % NS_PER_DAY < 0); /* floored */
      key[i] = (uint64_t)day ^ SIGN;
    }
    radix_sort(&sorted, &spare, n, key);
  }
  if (sorted != perm) memcpy(perm, sorted, n * sizeof *perm);
  free(key);
  free(tmp);
  free(rank);
  return 1;
}

/* ---------------------------------------------------------------- gathering */

static int gather_fixed(const sb_fixed *src, size_t width, const uint32_t *index, size_t n,
                        sb_fixed *out) {
  memset(out, 0, sizeof *out);
  if (!sb_buf_reserve(&out->values, n * width + 8)) return 0;
  uint8_t *o = out->values.data;
  const uint8_t *s = src->values.data;
  if (width == 8)
    for (size_t i = 0; i < n; i++) memcpy(o + 8 * i, s + 8 * (size_t)index[i], 8);
  else
    for (size_t i = 0; i < n; i++) memcpy(o + 4 * i, s + 4 * (size_t)index[i], 4);
  out->values.len = n * width;
  out->length = (int64_t)n;
  return 1;
}

static inline int valid_at(const sb_buf *validity, int64_t i) {
  return (validity->data[i >> 3] >> (i & 7)) & 1;
}

static int gather_ids(const sb_ids *src, size_t width, const uint32_t *index, size_t n,
                      sb_ids *out) {
  memset(out, 0, sizeof *out);
  if (!sb_buf_reserve(&out->values, n * width + 8) ||
      !sb_buf_reserve(&out->validity, n / 8 + 1))
    return 0;
  memset(out->validity.data, 0, n / 8 + 1);
  out->validity.len = (n + 7) / 8;
  for (size_t i = 0; i < n; i++)
    memcpy(out->values.data + width * i, src->values.data + width * (size_t)index[i], width);
  if (src->null_count)
    for (size_t i = 0; i < n; i++) {
      if (valid_at(&src->validity, index[i]))
        out->validity.data[i >> 3] |= (uint8_t)(1u << (i & 7));
      else
        out->null_count++;
    }
  else
    memset(out->validity.data, 0xff, n / 8 + 1);
  out->values.len = n * width;
  out->length = (int64_t)n;
  return 1;
}

/* Strings `index[i]` of src; with `spans`, each index[i] is a range of entries instead (maps:
 * spans[index[i]] .. spans[index[i] + 1]). Returns 1, 0 on no memory, -1 past 2 GiB. */
static int gather_str(const sb_str *src, const uint32_t *index, size_t n, const int32_t *spans,
                      sb_str *out) {
  memset(out, 0, sizeof *out);
  const int32_t *o = (const int32_t *)src->offsets.data;
  size_t bytes = 0, count = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t first = spans ? spans[index[i]] : (int64_t)index[i];
    int64_t last = spans ? spans[index[i] + 1] : (int64_t)index[i] + 1;
    bytes += (size_t)(o[last] - o[first]);
    count += (size_t)(last - first);
  }
  if (bytes > SB_MAX_OFFSET || count > SB_MAX_OFFSET) return -1;
  if (!sb_buf_reserve(&out->bytes, bytes + 8) || !sb_buf_reserve(&out->offsets, 4 * count + 4) ||
      !sb_buf_reserve(&out->validity, count / 8 + 1))
    return 0;
  int nulls = src->null_count > 0;
  if (nulls) memset(out->validity.data, 0, count / 8 + 1);
  int32_t *offsets = (int32_t *)out->offsets.data;
  uint8_t *data = out->bytes.data;
  int32_t at = 0;
  size_t row = 0;
  offsets[0] = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t first = spans ? spans[index[i]] : (int64_t)index[i];
    int64_t last = spans ? spans[index[i] + 1] : (int64_t)index[i] + 1;
    int32_t base = o[first];
    memcpy(data + at, src->bytes.data + base, (size_t)(o[last] - base));
    int32_t shift = at - base;
    for (int64_t j = first; j < last; j++) offsets[++row] = o[j + 1] + shift;
    at += o[last] - base;
    if (nulls)
      for (int64_t j = first, r = (int64_t)row - (last - first); j < last; j++, r++) {
        if (valid_at(&src->validity, j))
          out->validity.data[r >> 3] |= (uint8_t)(1u << (r & 7));
        else
          out->null_count++;
      }
  }
  out->bytes.len = (size_t)at;
  out->offsets.len = 4 * (count + 1);
  out->validity.len = nulls ? (count + 7) / 8 : 0;
  out->length = (int64_t)count;
  return 1;
}

/* A column taken over whole (rows in wire order): no copy. */
static int move_str(sb_str *src, sb_str *out) {
  *out = *src;
  memset(src, 0, sizeof *src);
  return 1;
}

static int move_fixed(sb_fixed *src, sb_fixed *out) {
  *out = *src;
  memset(src, 0, sizeof *src);
  return 1;
}

static int move_map(sb_map *src, sb_map *out) {
  *out = *src;
  memset(src, 0, sizeof *src);
  return 1;
}

static int move_ids(sb_ids *src, sb_ids *out) {
  *out = *src;
  memset(src, 0, sizeof *src);
  return 1;
}

static int gather_map(const sb_map *src, const uint32_t *index, size_t n, sb_map *out) {
  memset(out, 0, sizeof *out);
  const int32_t *spans = (const int32_t *)src->offsets.data;
  if (!sb_buf_reserve(&out->offsets, 4 * n + 4)) return 0;
  int32_t *offsets = (int32_t *)out->offsets.data;
  int64_t at = 0;
  offsets[0] = 0;
  for (size_t i = 0; i < n; i++) {
    at += spans[index[i] + 1] - spans[index[i]];
    if (at > SB_MAX_OFFSET) return -1;
    offsets[i + 1] = (int32_t)at;
  }
  out->offsets.len = 4 * (n + 1);
  out->length = (int64_t)n;
  int status = gather_str(&src->keys, index, n, spans, &out->keys);
  if (status == 1) status = gather_str(&src->values, index, n, spans, &out->values);
  return status;
}

/* ---------------------------------------------------------------- export */

typedef struct {
  sb_fixed fixed[6]; /* time, observed, severity, flags, dropped, (spare) */
  sb_str str[7];     /* severity_text, body, schema_url, scope_name, scope_version, event, service */
  sb_map map[3];     /* log, resource, scope attributes */
  sb_ids ids[2];     /* trace, span */
} gathered;

static void gathered_free(gathered *g) {
  for (int i = 0; i < 6; i++) sb_fixed_free(&g->fixed[i]);
  for (int i = 0; i < 7; i++) sb_str_free(&g->str[i]);
  for (int i = 0; i < 3; i++) sb_map_free(&g->map[i]);
  for (int i = 0; i < 2; i++) sb_ids_free(&g->ids[i]);
}

static int status_of(int result) { return result == 1 ? SB_OK : result == 0 ? SB_NO_MEMORY : SB_TOO_LARGE; }

int sb_batch_export_rows(sb_batch *b, int sorted, struct ArrowArray *out,
                         struct ArrowSchema *schema) {
  memset(out, 0, sizeof *out);
  memset(schema, 0, sizeof *schema);
  size_t n = (size_t)b->r_time.length;
  if (n > UINT32_MAX) return SB_TOO_LARGE;
  gathered g;
  memset(&g, 0, sizeof g);
  uint32_t *row = malloc((n ? n : 1) * sizeof *row);
  uint32_t *group = malloc((n ? n : 1) * sizeof *group);
  uint32_t *resource = malloc((n ? n : 1) * sizeof *resource);
  int status = row && group && resource ? SB_OK : SB_NO_MEMORY;
  const uint32_t *group_of = (const uint32_t *)b->r_group.values.data;
  const uint32_t *resource_of = (const uint32_t *)b->g_resource.values.data;
  if (status == SB_OK) {
    for (size_t i = 0; i < n; i++) row[i] = (uint32_t)i;
    if (sorted && !file_order(b, group_of, row, n)) status = SB_NO_MEMORY;
  }
  if (status == SB_OK) {
    for (size_t i = 0; i < n; i++) {
      group[i] = group_of[row[i]];
      resource[i] = resource_of[group[i]];
    }
  }
  /* one column at a time, each source freed once copied */
#define STEP(expr, free_source)                \
  if (status == SB_OK) {                       \
    status = status_of(expr);                  \
    free_source;                               \
  }
  /* per record: gathered in file order, else taken over as they are */
#define RECORDS(gather, move) (sorted ? (gather) : (move))
  STEP(RECORDS(gather_fixed(&b->r_time, 8, row, n, &g.fixed[0]),
               move_fixed(&b->r_time, &g.fixed[0])), sb_fixed_free(&b->r_time));
  STEP(RECORDS(gather_fixed(&b->r_observed, 8, row, n, &g.fixed[1]),
               move_fixed(&b->r_observed, &g.fixed[1])), sb_fixed_free(&b->r_observed));
  STEP(RECORDS(gather_fixed(&b->r_severity, 4, row, n, &g.fixed[2]),
               move_fixed(&b->r_severity, &g.fixed[2])), sb_fixed_free(&b->r_severity));
  STEP(RECORDS(gather_str(&b->r_severity_text, row, n, NULL, &g.str[0]),
               move_str(&b->r_severity_text, &g.str[0])), sb_str_free(&b->r_severity_text));
  STEP(RECORDS(gather_str(&b->r_body, row, n, NULL, &g.str[1]), move_str(&b->r_body, &g.str[1])),
       sb_str_free(&b->r_body));
  STEP(RECORDS(gather_map(&b->r_attributes, row, n, &g.map[0]),
               move_map(&b->r_attributes, &g.map[0])), sb_map_free(&b->r_attributes));
  STEP(gather_map(&b->s_attributes, resource, n, &g.map[1]), sb_map_free(&b->s_attributes));
  STEP(gather_str(&b->s_schema_url, resource, n, NULL, &g.str[2]), sb_str_free(&b->s_schema_url));
  STEP(gather_str(&b->g_scope_name, group, n, NULL, &g.str[3]), sb_str_free(&b->g_scope_name));
  STEP(gather_str(&b->g_scope_version, group, n, NULL, &g.str[4]),
       sb_str_free(&b->g_scope_version));
  STEP(gather_map(&b->g_attributes, group, n, &g.map[2]), sb_map_free(&b->g_attributes));
  STEP(RECORDS(gather_ids(&b->r_trace, 16, row, n, &g.ids[0]), move_ids(&b->r_trace, &g.ids[0])),
       sb_ids_free(&b->r_trace));
  STEP(RECORDS(gather_ids(&b->r_span, 8, row, n, &g.ids[1]), move_ids(&b->r_span, &g.ids[1])),
       sb_ids_free(&b->r_span));
  STEP(RECORDS(gather_fixed(&b->r_flags, 4, row, n, &g.fixed[3]),
               move_fixed(&b->r_flags, &g.fixed[3])), sb_fixed_free(&b->r_flags));
  STEP(RECORDS(gather_fixed(&b->r_dropped, 4, row, n, &g.fixed[4]),
               move_fixed(&b->r_dropped, &g.fixed[4])), sb_fixed_free(&b->r_dropped));
  STEP(RECORDS(gather_str(&b->r_event, row, n, NULL, &g.str[5]), move_str(&b->r_event, &g.str[5])),
       sb_str_free(&b->r_event));
  STEP(gather_str(&b->s_service, resource, n, NULL, &g.str[6]), sb_str_free(&b->s_service));
#undef RECORDS
#undef STEP
  free(row);
  free(group);
  free(resource);
  int ok = status == SB_OK && sb_export_begin(out, schema, (int64_t)n, 17) &&
           sb_export_fixed(out, schema, &g.fixed[0], "l", "time_unix_nano", 0) &&
           sb_export_fixed(out, schema, &g.fixed[1], "l", "observed_time_unix_nano", 1) &&
           sb_export_fixed(out, schema, &g.fixed[2], "i", "severity_number", 1) &&
           sb_export_str(out, schema, &g.str[0], "severity_text", 1) &&
           sb_export_str(out, schema, &g.str[1], "body", 1) &&
           sb_export_map(out, schema, &g.map[0], "log_attributes") &&
           sb_export_map(out, schema, &g.map[1], "resource_attributes") &&
           sb_export_str(out, schema, &g.str[2], "resource_schema_url", 1) &&
           sb_export_str(out, schema, &g.str[3], "scope_name", 1) &&
           sb_export_str(out, schema, &g.str[4], "scope_version", 1) &&
           sb_export_map(out, schema, &g.map[2], "scope_attributes") &&
           sb_export_ids(out, schema, &g.ids[0], "w:16", "trace_id") &&
           sb_export_ids(out, schema, &g.ids[1], "w:8", "span_id") &&
           sb_export_fixed(out, schema, &g.fixed[3], "i", "flags", 1) &&
           sb_export_fixed(out, schema, &g.fixed[4], "i", "dropped_attributes_count", 1) &&
           sb_export_str(out, schema, &g.str[5], "event_name", 1) &&
           sb_export_str(out, schema, &g.str[6], "service", 0);
  gathered_free(&g);
  sb_columns_free(b); /* what is left of the batch */
  if (!ok) {
    if (out->release) out->release(out);
    if (schema->release) schema->release(schema);
    return status == SB_OK ? SB_NO_MEMORY : status;
  }
  return SB_OK;
}
