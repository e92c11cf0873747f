/* Growable column builders (columns.c) used by the decoder (decode.c). */
#ifndef STARBASE_COLUMNS_H
#define STARBASE_COLUMNS_H

#include <stdint.h>
#include <string.h>

#include "otlp_arrow.h"

#define SB_MAX_OFFSET 0x7fffffff

int sb_buf_grow(sb_buf *buf, size_t extra);

/* Room for `extra` more bytes; 0 when memory ran out. */
static inline int sb_buf_reserve(sb_buf *buf, size_t extra) {
  return buf->cap - buf->len >= extra ? 1 : sb_buf_grow(buf, extra);
}

static inline int sb_fixed_push64(sb_fixed *col, uint64_t value) {
  if (!sb_buf_reserve(&col->values, 8)) return 0;
  memcpy(col->values.data + col->values.len, &value, 8);
  col->values.len += 8;
  col->length++;
  return 1;
}

static inline int sb_fixed_push32(sb_fixed *col, uint32_t value) {
  if (!sb_buf_reserve(&col->values, 4)) return 0;
  memcpy(col->values.data + col->values.len, &value, 4);
  col->values.len += 4;
  col->length++;
  return 1;
}

/* End the value whose bytes were appended to col->bytes since the last commit (valid=0: a
 * null, which must have appended nothing). Returns 0 on no memory, -1 past 2 GiB. */
static inline int sb_str_commit(sb_str *col, int valid) {
  if (col->bytes.len > SB_MAX_OFFSET) return -1;
  if (!sb_buf_reserve(&col->offsets, 4)) return 0;
  if ((col->length & 7) == 0) {
    if (!sb_buf_reserve(&col->validity, 1)) return 0;
    col->validity.data[col->validity.len++] = 0;
  }
  int32_t end = (int32_t)col->bytes.len;
  memcpy(col->offsets.data + col->offsets.len, &end, 4);
  col->offsets.len += 4;
  if (valid)
    col->validity.data[col->length >> 3] |= (uint8_t)(1u << (col->length & 7));
  else
    col->null_count++;
  col->length++;
  return 1;
}

static inline int sb_str_append(sb_str *col, const uint8_t *data, size_t len) {
  if (!sb_buf_reserve(&col->bytes, len)) return 0;
  if (len) memcpy(col->bytes.data + col->bytes.len, data, len);
  col->bytes.len += len;
  return sb_str_commit(col, 1);
}

/* End one map row: its entries are the keys/values appended since the previous row. */
static inline int sb_map_commit(sb_map *col) {
  if (col->keys.length > SB_MAX_OFFSET) return -1;
  if (!sb_buf_reserve(&col->offsets, 4)) return 0;
  int32_t end = (int32_t)col->keys.length;
  memcpy(col->offsets.data + col->offsets.len, &end, 4);
  col->offsets.len += 4;
  col->length++;
  return 1;
}

/* One id of `width` bytes, or a null (id == NULL: zeros are written). 0 on no memory. */
static inline int sb_ids_push(sb_ids *col, const uint8_t *id, size_t width) {
  if (!sb_buf_reserve(&col->values, width)) return 0;
  if ((col->length & 7) == 0) {
    if (!sb_buf_reserve(&col->validity, 1)) return 0;
    col->validity.data[col->validity.len++] = 0;
  }
  if (id) {
    memcpy(col->values.data + col->values.len, id, width);
    col->validity.data[col->length >> 3] |= (uint8_t)(1u << (col->length & 7));
  } else {
    memset(col->values.data + col->values.len, 0, width);
    col->null_count++;
  }
  col->values.len += width;
  col->length++;
  return 1;
}

int sb_columns_init(sb_batch *batch);
void sb_columns_free(sb_batch *batch);
void sb_fixed_free(sb_fixed *col);
void sb_ids_free(sb_ids *col);
void sb_str_free(sb_str *col);
void sb_map_free(sb_map *col);

/* Export through the Arrow C data interface: a struct array of n_children, then one child
 * each call; the column's buffers are handed over (the builder is left empty). 0 on no
 * memory. */
int sb_export_begin(struct ArrowArray *array, struct ArrowSchema *schema, int64_t length,
                    int n_children);
int sb_export_fixed(struct ArrowArray *parent, struct ArrowSchema *schema, sb_fixed *col,
                    const char *format, const char *name, int nullable);
int sb_export_ids(struct ArrowArray *parent, struct ArrowSchema *schema, sb_ids *col,
                  const char *format, const char *name);
int sb_export_str(struct ArrowArray *parent, struct ArrowSchema *schema, sb_str *col,
                  const char *name, int nullable);
int sb_export_map(struct ArrowArray *parent, struct ArrowSchema *schema, sb_map *col,
                  const char *name);

#endif
