/* Column builders and their export through the Arrow C data interface.
 *
 * Every buffer is handed over as is (no copy): the exported ArrowArray owns it and its release
 * callback frees it. Buffers of 1 MiB and more are mapped pages of their own (mmap, grown with
 * mremap, shrunk to their length on export), so that their memory goes back to the system the
 * moment pyarrow releases them, whatever malloc's heap looks like; smaller ones are malloc'd. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "columns.h"

#define MAPPED (1u << 20)

static void buf_release(void *data, size_t cap) {
  if (!data) return;
  if (cap >= MAPPED)
    munmap(data, cap);
  else
    free(data);
}

/* `data` (of capacity `cap`, holding `len` bytes) moved to a capacity of `want`. */
static uint8_t *buf_resize(uint8_t *data, size_t len, size_t cap, size_t want) {
  if (want >= MAPPED) {
    if (cap >= MAPPED) {
      void *moved = mremap(data, cap, want, MREMAP_MAYMOVE);
      return moved == MAP_FAILED ? NULL : moved;
    }
    void *mapped = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) return NULL;
    madvise(mapped, want, MADV_HUGEPAGE); /* fewer page faults; a hint, may be refused */
    if (len) memcpy(mapped, data, len);
    free(data);
    return mapped;
  }
  if (cap >= MAPPED) { /* shrinking below the mapped size */
    uint8_t *small = malloc(want ? want : 1);
    if (!small) return NULL;
    if (len) memcpy(small, data, len < want ? len : want);
    munmap(data, cap);
    return small;
  }
  return realloc(data, want ? want : 1);
}

int sb_buf_grow(sb_buf *buf, size_t extra) {
  size_t need = buf->len + extra;
  if (need < buf->len) return 0;
  size_t cap = buf->cap ? buf->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return 0;
    cap *= 2;
  }
  uint8_t *data = buf_resize(buf->data, buf->len, buf->cap, cap);
  if (!data) return 0;
  buf->data = data;
  buf->cap = cap;
  return 1;
}

static int buf_init(sb_buf *buf, size_t cap) {
  buf->data = malloc(cap);
  buf->len = 0;
  buf->cap = buf->data ? cap : 0;
  return buf->data != NULL;
}

static int str_init(sb_str *col) {
  int ok = buf_init(&col->offsets, 256) & buf_init(&col->bytes, 1024) &
           buf_init(&col->validity, 64);
  if (ok) {
    memset(col->offsets.data, 0, 4);
    col->offsets.len = 4;
  }
  col->length = col->null_count = 0;
  return ok;
}

static int map_init(sb_map *col) {
  int ok = buf_init(&col->offsets, 256) & str_init(&col->keys) & str_init(&col->values);
  if (ok) {
    memset(col->offsets.data, 0, 4);
    col->offsets.len = 4;
  }
  col->length = 0;
  return ok;
}

static int fixed_init(sb_fixed *col) {
  col->length = 0;
  return buf_init(&col->values, 256);
}

static int ids_init(sb_ids *col) {
  col->length = col->null_count = 0;
  return buf_init(&col->values, 256) & buf_init(&col->validity, 64);
}

int sb_columns_init(sb_batch *b) {
  int ok = 1;
  sb_fixed *fixed[] = {&b->r_time,  &b->r_observed, &b->r_severity, &b->r_flags,
                       &b->r_dropped, &b->r_group, &b->g_resource};
  sb_str *strs[] = {&b->r_severity_text, &b->r_body,       &b->r_event,
                    &b->g_scope_name,    &b->g_scope_version, &b->s_schema_url,
                    &b->s_service};
  sb_map *maps[] = {&b->r_attributes, &b->g_attributes, &b->s_attributes};
  sb_ids *ids[] = {&b->r_trace, &b->r_span};
  b->shared_values = 0;
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) ok &= ids_init(ids[i]);
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) ok &= fixed_init(fixed[i]);
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) ok &= str_init(strs[i]);
  for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) ok &= map_init(maps[i]);
  return ok;
}

static void buf_free(sb_buf *buf) {
  buf_release(buf->data, buf->cap);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}

static void str_free(sb_str *col) {
  buf_free(&col->offsets);
  buf_free(&col->bytes);
  buf_free(&col->validity);
}

static void ids_free(sb_ids *col) {
  buf_free(&col->values);
  buf_free(&col->validity);
}

static void map_free(sb_map *col) {
  buf_free(&col->offsets);
  str_free(&col->keys);
  str_free(&col->values);
}

void sb_columns_free(sb_batch *b) {
  sb_fixed *fixed[] = {&b->r_time,  &b->r_observed, &b->r_severity, &b->r_flags,
                       &b->r_dropped, &b->r_group, &b->g_resource};
  sb_str *strs[] = {&b->r_severity_text, &b->r_body,       &b->r_event,
                    &b->g_scope_name,    &b->g_scope_version, &b->s_schema_url,
                    &b->s_service};
  sb_map *maps[] = {&b->r_attributes, &b->g_attributes, &b->s_attributes};
  sb_ids *ids[] = {&b->r_trace, &b->r_span};
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) ids_free(ids[i]);
  for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) buf_free(&fixed[i]->values);
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) str_free(strs[i]);
  for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) map_free(maps[i]);
}

/* ---------------------------------------------------------------- export */

typedef struct {
  void *owned[3];
  size_t sizes[3];
} array_private;

static void release_array(struct ArrowArray *array) {
  if (!array->release) return;
  for (int64_t i = 0; i < array->n_children; i++) {
    struct ArrowArray *child = array->children[i];
    if (child->release) child->release(child);
    free(child);
  }
  free(array->children);
  array_private *priv = array->private_data;
  if (priv) {
    for (int i = 0; i < 3; i++) buf_release(priv->owned[i], priv->sizes[i]);
    free(priv);
  }
  free((void *)array->buffers);
  array->release = NULL;
}

static void release_schema(struct ArrowSchema *schema) {
  if (!schema->release) return;
  for (int64_t i = 0; i < schema->n_children; i++) {
    struct ArrowSchema *child = schema->children[i];
    if (child->release) child->release(child);
    free(child);
  }
  free(schema->children);
  schema->release = NULL;
}

/* Takes ownership of the buffers' memory (the builder's pointer is cleared). */
static int init_array(struct ArrowArray *a, int64_t length, int64_t null_count, int n_buffers,
                      sb_buf *buffers[], int n_children) {
  memset(a, 0, sizeof *a);
  a->length = length;
  a->null_count = null_count;
  a->n_buffers = n_buffers;
  a->n_children = 0;
  a->release = release_array;
  array_private *priv = calloc(1, sizeof *priv);
  a->private_data = priv;
  a->buffers = calloc((size_t)(n_buffers ? n_buffers : 1), sizeof(void *));
  a->children = calloc((size_t)(n_children ? n_children : 1), sizeof(struct ArrowArray *));
  if (!priv || !a->buffers || !a->children) return 0;
  for (int i = 0; i < n_buffers; i++) {
    sb_buf *buf = buffers[i];
    if (!buf) continue; /* an absent validity bitmap */
    if (buf->cap > buf->len + buf->len / 8 + 4096) {
      size_t want = buf->len >= MAPPED ? (buf->len + 4095) & ~(size_t)4095 : buf->len;
      uint8_t *smaller = buf_resize(buf->data, buf->len, buf->cap, want);
      if (smaller) {
        buf->data = smaller;
        buf->cap = want ? want : 1;
      }
    }
    a->buffers[i] = buf->data;
    priv->owned[i] = buf->data;
    priv->sizes[i] = buf->cap;
    buf->data = NULL;
    buf->len = buf->cap = 0;
  }
  return 1;
}

static struct ArrowArray *add_child(struct ArrowArray *parent) {
  struct ArrowArray *child = calloc(1, sizeof *child);
  if (!child) return NULL;
  parent->children[parent->n_children++] = child;
  return child;
}

static int init_schema(struct ArrowSchema *s, const char *format, const char *name, int nullable,
                       int n_children) {
  memset(s, 0, sizeof *s);
  s->format = format;
  s->name = name;
  s->flags = nullable ? ARROW_FLAG_NULLABLE : 0;
  s->release = release_schema;
  s->children = calloc((size_t)(n_children ? n_children : 1), sizeof(struct ArrowSchema *));
  return s->children != NULL;
}

static struct ArrowSchema *add_schema(struct ArrowSchema *parent, const char *format,
                                      const char *name, int nullable, int n_children) {
  struct ArrowSchema *child = calloc(1, sizeof *child);
  if (!child) return NULL;
  parent->children[parent->n_children++] = child;
  return init_schema(child, format, name, nullable, n_children) ? child : NULL;
}

int sb_export_fixed(struct ArrowArray *parent, struct ArrowSchema *schema, sb_fixed *col,
                    const char *format, const char *name, int nullable) {
  struct ArrowArray *a = add_child(parent);
  sb_buf *buffers[2] = {NULL, &col->values};
  return a && init_array(a, col->length, 0, 2, buffers, 0) &&
         add_schema(schema, format, name, nullable, 0);
}

int sb_export_ids(struct ArrowArray *parent, struct ArrowSchema *schema, sb_ids *col,
                  const char *format, const char *name) {
  struct ArrowArray *a = add_child(parent);
  sb_buf *buffers[2] = {col->null_count ? &col->validity : NULL, &col->values};
  return a && init_array(a, col->length, col->null_count, 2, buffers, 0) &&
         add_schema(schema, format, name, 1, 0);
}

static int export_str_into(struct ArrowArray *a, sb_str *col) {
  sb_buf *buffers[3] = {col->null_count ? &col->validity : NULL, &col->offsets, &col->bytes};
  return init_array(a, col->length, col->null_count, 3, buffers, 0);
}

int sb_export_str(struct ArrowArray *parent, struct ArrowSchema *schema, sb_str *col,
                  const char *name, int nullable) {
  struct ArrowArray *a = add_child(parent);
  return a && export_str_into(a, col) && add_schema(schema, "u", name, nullable, 0);
}

int sb_export_map(struct ArrowArray *parent, struct ArrowSchema *schema, sb_map *col,
                  const char *name) {
  struct ArrowArray *a = add_child(parent);
  sb_buf *buffers[2] = {NULL, &col->offsets};
  if (!a || !init_array(a, col->length, 0, 2, buffers, 1)) return 0;
  struct ArrowArray *entries = add_child(a);
  sb_buf *none[1] = {NULL};
  if (!entries || !init_array(entries, col->keys.length, 0, 1, none, 2)) return 0;
  struct ArrowArray *keys = add_child(entries);
  struct ArrowArray *values = add_child(entries);
  if (!keys || !export_str_into(keys, &col->keys) || !values ||
      !export_str_into(values, &col->values))
    return 0;
  struct ArrowSchema *m = add_schema(schema, "+m", name, 1, 1);
  struct ArrowSchema *e = m ? add_schema(m, "+s", "entries", 0, 2) : NULL;
  return e && add_schema(e, "u", "key", 0, 0) && add_schema(e, "u", "value", 1, 0);
}

int sb_export_begin(struct ArrowArray *a, struct ArrowSchema *s, int64_t length,
                    int n_children) {
  sb_buf *none[1] = {NULL};
  return init_array(a, length, 0, 1, none, n_children) && init_schema(s, "+s", "", 0, n_children);
}

/* Column builders owned by nobody yet (rows.c): their buffers are freed here. */
void sb_fixed_free(sb_fixed *col) { buf_free(&col->values); }
void sb_ids_free(sb_ids *col) { ids_free(col); }
void sb_str_free(sb_str *col) { str_free(col); }
void sb_map_free(sb_map *col) { map_free(col); }
