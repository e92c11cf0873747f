/* Sanitizer driver for the decoder (not part of the extension): `make fuzz-native` builds it
 * with AddressSanitizer and UndefinedBehaviorSanitizer and runs it over a corpus.
 *
 *   fuzz_main DIR ITERATIONS [SEED]
 *
 * Every file of DIR is decoded as is, then ITERATIONS mutants of randomly chosen files are
 * (bit flips, cuts, inserted random or varint bytes, deleted and repeated ranges, and payloads
 * spliced from two files). Each one goes through the request-path summary (sb_check), then
 * validation, rendering and the export of its rows in wire and in file order; the exported
 * arrays are walked (offsets within bounds) and released. A crash, a sanitizer report
 * or an offset out of bounds stops it with a non-zero status; at the end it prints how many
 * inputs decoded and how many were refused, by reason.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_arrow.h"

typedef struct {
  uint8_t *data;
  size_t len;
} blob;

static uint64_t state = 88172645463325252ULL;
static uint64_t next_random(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}
static size_t below(size_t n) { return n ? (size_t)(next_random() % n) : 0; }

static void check_strings(const struct ArrowArray *a) {
  const int32_t *offsets = a->buffers[1];
  for (int64_t i = 0; i < a->length; i++)
    if (offsets[i] > offsets[i + 1] || offsets[i] < 0) {
      fprintf(stderr, "offsets out of order\n");
      abort();
    }
}

/* Walk what was exported: string offsets ascend, map offsets stay within their entries. */
static void check(const struct ArrowArray *array, const struct ArrowSchema *schema) {
  for (int64_t i = 0; i < array->n_children; i++) {
    const struct ArrowArray *child = array->children[i];
    const struct ArrowSchema *type = schema->children[i];
    if (child->length != array->length) abort();
    if (strcmp(type->format, "u") == 0) check_strings(child);
    if (strcmp(type->format, "+m") == 0) {
      const int32_t *offsets = child->buffers[1];
      const struct ArrowArray *entries = child->children[0];
      if (offsets[child->length] != entries->length) abort();
      check_strings(entries->children[0]);
      check_strings(entries->children[1]);
    }
  }
}

static long decoded, refused[8];

static void run(const uint8_t *data, size_t len) {
  /* a private copy of exactly `len` bytes, so a read past the end is caught */
  uint8_t *copy = malloc(len ? len : 1);
  memcpy(copy, data, len);
  sb_error error;
  sb_summary summary;
  int checked = sb_check(copy, len, 1790000000000000000ULL, &summary, &error);
  for (int sorted = 0; sorted < 2; sorted++) {
    sb_batch *batch = sb_batch_new();
    int status = sb_batch_add(batch, copy, len, 1790000000000000000ULL, &error);
    if (status == SB_OK) status = sb_batch_add(batch, copy, len, 1, &error); /* twice */
    if ((status == SB_OK) != (checked == SB_OK)) {
      fprintf(stderr, "sb_check and sb_batch_add disagree\n");
      abort();
    }
    if (status == SB_OK) {
      if (sb_batch_values(batch) != 2 * (summary.own_values + summary.shared_values)) {
        fprintf(stderr, "attribute values counted differently\n");
        abort();
      }
      struct ArrowArray array;
      struct ArrowSchema schema;
      if (sb_batch_export_rows(batch, sorted, &array, &schema) == SB_OK) {
        if ((uint64_t)array.length != 2 * summary.records) abort();
        check(&array, &schema);
        array.release(&array);
        schema.release(&schema);
      }
      if (sorted) decoded++;
    } else if (sorted) {
      refused[status & 7]++;
    }
    sb_batch_free(batch);
  }
  free(copy);
}

static blob mutate(const blob *corpus, size_t n) {
  const blob *seed = &corpus[below(n)];
  size_t cap = seed->len * 2 + 64;
  uint8_t *out = malloc(cap);
  size_t len = seed->len;
  memcpy(out, seed->data, len);
  int rounds = 1 + (int)below(4);
  for (int r = 0; r < rounds; r++) {
    size_t at = below(len + 1);
    switch (below(7)) {
      case 0: /* flip a bit */
        if (len) out[below(len)] ^= (uint8_t)(1u << below(8));
        break;
      case 1: /* cut */
        len = at;
        break;
      case 2: { /* insert random bytes, often a long varint */
        size_t k = 1 + below(10);
        if (len + k > cap) break;
        memmove(out + at + k, out + at, len - at);
        for (size_t i = 0; i < k; i++) out[at + i] = below(3) ? 0x80 | (uint8_t)below(128) : (uint8_t)below(256);
        len += k;
        break;
      }
      case 3: { /* delete a range */
        size_t k = below(len - at + 1);
        memmove(out + at, out + at + k, len - at - k);
        len -= k;
        break;
      }
      case 4: { /* repeat a range (a field twice: merges) */
        size_t k = below(len - at + 1);
        if (len + k > cap) break;
        memmove(out + at + k, out + at, len - at);
        len += k;
        break;
      }
      case 5: { /* splice the tail of another file */
        const blob *other = &corpus[below(n)];
        size_t from = below(other->len + 1);
        size_t k = other->len - from;
        if (at + k > cap) k = cap - at;
        memcpy(out + at, other->data + from, k);
        len = at + k;
        break;
      }
      default: /* overwrite a byte with a tag-like value */
        if (len) out[below(len)] = (uint8_t)(below(16) << 3 | below(8));
    }
  }
  blob result = {out, len};
  return result;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s DIR ITERATIONS [SEED]\n", argv[0]);
    return 2;
  }
  long iterations = atol(argv[2]);
  if (argc > 3) state ^= strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ULL;
  DIR *dir = opendir(argv[1]);
  if (!dir) {
    perror(argv[1]);
    return 2;
  }
  blob *corpus = NULL;
  size_t n = 0;
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    if (entry->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], entry->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    corpus = realloc(corpus, (n + 1) * sizeof *corpus);
    corpus[n].data = malloc((size_t)size + 1);
    corpus[n].len = fread(corpus[n].data, 1, (size_t)size, f);
    fclose(f);
    n++;
  }
  closedir(dir);
  if (!n) {
    fprintf(stderr, "empty corpus\n");
    return 2;
  }
  for (size_t i = 0; i < n; i++) run(corpus[i].data, corpus[i].len);
  for (long i = 0; i < iterations; i++) {
    blob b = mutate(corpus, n);
    run(b.data, b.len);
    free(b.data);
  }
  printf("%zu files, %ld mutants: %ld decoded; refused: %ld malformed, %ld bad UTF-8, "
         "%ld too deep\n",
         n, iterations, decoded, refused[SB_MALFORMED], refused[SB_BAD_UTF8], refused[SB_TOO_DEEP]);
  for (size_t i = 0; i < n; i++) free(corpus[i].data);
  free(corpus);
  return 0;
}
