/* OTLP/JSON (as json.loads returns it) → protobuf ExportLogsServiceRequest bytes, in C.
 *
 * sb_json_payload(document) walks the dicts, lists, strings and numbers of a parsed OTLP/JSON
 * document and writes the protobuf wire format of the request it describes, with no Python
 * object per record. It is the fast path of otlp_json.json_payload, whose reference is
 * protobuf's json_format.ParseDict record by record: for the common shape it must give a
 * payload that parses to the same message, and for anything it does not handle exactly as
 * the reference does it gives up (returns Py_None) and the reference decides, errors
 * included. It handles: lowerCamelCase field names (the OTLP/JSON spelling; an original
 * snake_case name, an extension-like "[...]" key or a field it does not know by that name
 * makes it give up; other unknown keys are ignored, as ignore_unknown_fields does); null as
 * "absent" (not inside lists); strings as valid UTF-8 (lone surrogates: give up); 64-bit
 * integers as JSON integers or ASCII decimal strings in range; severityNumber as an integer
 * 0-24 or its value name; doubles as finite floats or integers; booleans; trace and span ids as even-length hex
 * (empty = absent); AnyValue with at most one member, nested at most MAX_DEPTH levels. It gives
 * up on bytesValue, the *Strindex fields, entityRefs, floats where integers are expected,
 * and anything of another type. Needs the GIL (it reads Python objects).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 16

enum { OK = 1, GIVE_UP = 0, FAILED = -1 }; /* FAILED: a Python exception is set */

typedef struct {
  uint8_t *data;
  size_t len, cap;
} out;

static int reserve(out *o, size_t more) {
  if (o->len + more <= o->cap) return OK;
  size_t cap = o->cap ? o->cap : 4096;
  while (cap < o->len + more) {
    if (cap > SIZE_MAX / 2) {
      PyErr_NoMemory();
      return FAILED;
    }
    cap *= 2;
  }
  uint8_t *data = realloc(o->data, cap);
  if (!data) {
    PyErr_NoMemory();
    return FAILED;
  }
  o->data = data;
  o->cap = cap;
  return OK;
}

static int put_varint(out *o, uint64_t v) {
  if (reserve(o, 10) != OK) return FAILED;
  while (v >= 0x80) {
    o->data[o->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  o->data[o->len++] = (uint8_t)v;
  return OK;
}

static int put_bytes(out *o, const void *p, size_t n) {
  if (reserve(o, n) != OK) return FAILED;
  if (n) memcpy(o->data + o->len, p, n);
  o->len += n;
  return OK;
}

static int put_tag(out *o, unsigned field, unsigned wire) {
  return put_varint(o, (uint64_t)field << 3 | wire);
}

static int put_fixed(out *o, unsigned field, uint64_t v, int size) {
  if (put_tag(o, field, size == 8 ? 1 : 5) != OK || reserve(o, 8) != OK) return FAILED;
  for (int i = 0; i < size; i++) o->data[o->len++] = (uint8_t)(v >> (8 * i));
  return OK;
}

/* A length-delimited field opened: its tag and a one-byte length placeholder; `close_len`
 * writes the real length (moving the content when it needs more bytes). */
static int open_len(out *o, unsigned field, size_t *at) {
  if (put_tag(o, field, 2) != OK || reserve(o, 1) != OK) return FAILED;
  *at = o->len++;
  return OK;
}

static int close_len(out *o, size_t at) {
  size_t n = o->len - at - 1;
  int size = 1;
  for (uint64_t v = n; v >= 0x80; v >>= 7) size++;
  if (size > 1) {
    if (reserve(o, (size_t)size - 1) != OK) return FAILED;
    memmove(o->data + at + size, o->data + at + 1, n);
    o->len += (size_t)size - 1;
  }
  uint64_t v = n;
  for (int i = 0; i < size; i++, v >>= 7)
    o->data[at + i] = (uint8_t)((v & 0x7f) | (i + 1 < size ? 0x80 : 0));
  return OK;
}

/* The UTF-8 of a str, or GIVE_UP (not a str, or lone surrogates). */
static int utf8(PyObject *value, const char **p, Py_ssize_t *n) {
  if (!PyUnicode_Check(value)) return GIVE_UP;
  *p = PyUnicode_AsUTF8AndSize(value, n);
  if (!*p) {
    if (!PyErr_ExceptionMatches(PyExc_UnicodeError)) return FAILED;
    PyErr_Clear();
    return GIVE_UP;
  }
  return OK;
}

static int put_string(out *o, unsigned field, PyObject *value) {
  const char *p;
  Py_ssize_t n;
  int r = utf8(value, &p, &n);
  if (r != OK) return r;
  if (put_tag(o, field, 2) != OK || put_varint(o, (uint64_t)n) != OK) return FAILED;
  return put_bytes(o, p, (size_t)n);
}

/* An integer as ParseDict takes it for a field of [low, high]: a JSON integer (not a bool) or
 * a string of ASCII digits with an optional '-'. */
static int integer(PyObject *value, int64_t low, uint64_t high, uint64_t *bits) {
  if (PyLong_Check(value) && !PyBool_Check(value)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow > 0 && high > INT64_MAX) {
      unsigned long long u = PyLong_AsUnsignedLongLong(value);
      if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return GIVE_UP;
      }
      if (u > high) return GIVE_UP;
      *bits = u;
      return OK;
    }
    if (overflow || (v == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return GIVE_UP;
    }
    if (v < low || (v >= 0 && (uint64_t)v > high)) return GIVE_UP;
    *bits = (uint64_t)v;
    return OK;
  }
  const char *p;
  Py_ssize_t n;
  int r = utf8(value, &p, &n);
  if (r != OK) return r;
  int negative = n > 0 && p[0] == '-';
  if (n - negative < 1 || n - negative > 20) return GIVE_UP;
  uint64_t magnitude = 0;
  for (Py_ssize_t i = negative; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return GIVE_UP;
    unsigned digit = (unsigned)(p[i] - '0');
    if (magnitude > (UINT64_MAX - digit) / 10) return GIVE_UP;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    if (magnitude == 0) {
      *bits = 0;
      return OK;
    }
    if (low >= 0 || magnitude - 1 > (uint64_t)(-(low + 1))) return GIVE_UP;
    *bits = (uint64_t)(-(int64_t)(magnitude - 1) - 1);
    return OK;
  }
  if (magnitude > high) return GIVE_UP;
  *bits = magnitude;
  return OK;
}

typedef int (*field_writer)(out *o, const char *key, Py_ssize_t n, PyObject *value, int depth);

/* Every key of a JSON object through `write`; GIVE_UP if `value` is not an object. A key
 * `write` does not know (it returns 2) is ignored unless it looks like an original field name
 * or an extension (ParseDict would read or refuse those). */
static int object(out *o, PyObject *value, field_writer write, int depth) {
  if (!PyDict_Check(value)) return GIVE_UP;
  Py_ssize_t pos = 0;
  PyObject *key, *item;
  while (PyDict_Next(value, &pos, &key, &item)) {
    const char *k;
    Py_ssize_t n;
    int r = utf8(key, &k, &n);
    if (r != OK) return r;
    if (item == Py_None) {
      if (memchr(k, '_', (size_t)n) || memchr(k, '[', (size_t)n)) return GIVE_UP;
      continue; /* null: the field stays absent */
    }
    r = write(o, k, n, item, depth);
    if (r == 2) {
      if (memchr(k, '_', (size_t)n) || memchr(k, '[', (size_t)n)) return GIVE_UP;
      continue;
    }
    if (r != OK) return r;
  }
  return OK;
}

/* A repeated message field: each element (an object, never null) through `write`. */
static int repeated(out *o, unsigned field, PyObject *value, field_writer write, int depth) {
  if (!PyList_Check(value)) return GIVE_UP;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
    PyObject *item = PyList_GET_ITEM(value, i);
    if (item == Py_None) return GIVE_UP;
    size_t at;
    if (open_len(o, field, &at) != OK) return FAILED;
    int r = object(o, item, write, depth);
    if (r != OK) return r;
    if (close_len(o, at) != OK) return FAILED;
  }
  return OK;
}

static int message(out *o, unsigned field, PyObject *value, field_writer write, int depth) {
  size_t at;
  if (open_len(o, field, &at) != OK) return FAILED;
  int r = object(o, value, write, depth);
  if (r != OK) return r;
  return close_len(o, at);
}

#define KEY(name) (n == (Py_ssize_t)sizeof(name) - 1 && memcmp(k, name, sizeof(name) - 1) == 0)

static int any_value(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth);
static int key_value(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth);

static int any_object(out *o, unsigned field, PyObject *value, int depth);

static int values_list(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (!KEY("values")) return 2;
  if (!PyList_Check(value)) return GIVE_UP;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
    PyObject *item = PyList_GET_ITEM(value, i);
    if (item == Py_None) return GIVE_UP;
    int r = any_object(o, 1, item, depth); /* each element an AnyValue: one member at most */
    if (r != OK) return r;
  }
  return OK;
}

static int kv_list(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("values")) return repeated(o, 1, value, key_value, depth);
  return 2;
}

/* AnyValue: one member at most (ParseDict refuses two of a oneof); `depth` bounds nesting. */
static int any_value(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  uint64_t bits;
  int r;
  if (KEY("stringValue")) return put_string(o, 1, value);
  if (KEY("boolValue")) {
    if (value != Py_True && value != Py_False) return GIVE_UP;
    if (put_tag(o, 2, 0) != OK) return FAILED;
    return put_varint(o, value == Py_True);
  }
  if (KEY("intValue")) {
    if ((r = integer(value, INT64_MIN, INT64_MAX, &bits)) != OK) return r;
    if (put_tag(o, 3, 0) != OK) return FAILED;
    return put_varint(o, bits);
  }
  if (KEY("doubleValue")) {
    double d;
    if (PyFloat_Check(value)) {
      d = PyFloat_AS_DOUBLE(value);
    } else if (PyLong_Check(value) && !PyBool_Check(value)) {
      d = PyLong_AsDouble(value);
      if (d == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return GIVE_UP;
      }
    } else {
      return GIVE_UP;
    }
    if (d - d != 0) return GIVE_UP; /* NaN or infinite: ParseDict refuses them unquoted */
    uint64_t u;
    memcpy(&u, &d, 8);
    return put_fixed(o, 4, u, 8);
  }
  if (depth >= MAX_DEPTH) return GIVE_UP;
  if (KEY("arrayValue")) return message(o, 5, value, values_list, depth + 1);
  if (KEY("kvlistValue")) return message(o, 6, value, kv_list, depth + 1);
  if (KEY("bytesValue") || KEY("stringValueStrindex")) return GIVE_UP;
  return 2;
}

/* An AnyValue object: at most one non-null member. */
static int any_object(out *o, unsigned field, PyObject *value, int depth) {
  if (!PyDict_Check(value)) return GIVE_UP;
  Py_ssize_t pos = 0, members = 0;
  PyObject *key, *item;
  while (PyDict_Next(value, &pos, &key, &item))
    if (item != Py_None) members++;
  if (members > 1) return GIVE_UP; /* maybe two members of the oneof: ParseDict refuses */
  return message(o, field, value, any_value, depth);
}

static int key_value(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("key")) return put_string(o, 1, value);
  if (KEY("value")) return any_object(o, 2, value, depth);
  if (KEY("keyStrindex")) return GIVE_UP;
  return 2;
}

static int uint32_field(out *o, unsigned field, PyObject *value) {
  uint64_t bits;
  int r = integer(value, 0, UINT32_MAX, &bits);
  if (r != OK) return r;
  if (put_tag(o, field, 0) != OK) return FAILED;
  return put_varint(o, bits);
}

static int resource(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("attributes")) return repeated(o, 1, value, key_value, depth);
  if (KEY("droppedAttributesCount")) return uint32_field(o, 2, value);
  if (KEY("entityRefs")) return GIVE_UP;
  return 2;
}

static int scope(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("name")) return put_string(o, 1, value);
  if (KEY("version")) return put_string(o, 2, value);
  if (KEY("attributes")) return repeated(o, 3, value, key_value, depth);
  if (KEY("droppedAttributesCount")) return uint32_field(o, 4, value);
  return 2;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A trace or span id: hex (OTLP/JSON), written as its bytes; "" is absent. */
static int hex_id(out *o, unsigned field, PyObject *value) {
  const char *p;
  Py_ssize_t n;
  int r = utf8(value, &p, &n);
  if (r != OK) return r;
  if (n % 2) return GIVE_UP;
  if (n == 0) return OK;
  if (put_tag(o, field, 2) != OK || put_varint(o, (uint64_t)n / 2) != OK) return FAILED;
  if (reserve(o, (size_t)n / 2) != OK) return FAILED;
  for (Py_ssize_t i = 0; i < n; i += 2) {
    int high = hex_digit(p[i]), low = hex_digit(p[i + 1]);
    if (high < 0 || low < 0) return GIVE_UP;
    o->data[o->len++] = (uint8_t)(high << 4 | low);
  }
  return OK;
}

/* SeverityNumber's value names, SEVERITY_NUMBER_<LEVEL>[2-4] = LEVEL's number + 0-3. */
static int severity_name(PyObject *value, uint64_t *bits) {
  static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
  static const char prefix[] = "SEVERITY_NUMBER_";
  const char *p;
  Py_ssize_t n;
  int r = utf8(value, &p, &n);
  if (r != OK) return r;
  size_t skip = sizeof(prefix) - 1;
  if ((size_t)n <= skip || memcmp(p, prefix, skip) != 0) return GIVE_UP;
  p += skip;
  n -= (Py_ssize_t)skip;
  if (n == 11 && memcmp(p, "UNSPECIFIED", 11) == 0) {
    *bits = 0;
    return OK;
  }
  for (int level = 0; level < 6; level++) {
    Py_ssize_t len = (Py_ssize_t)strlen(levels[level]);
    if (n < len || memcmp(p, levels[level], (size_t)len) != 0) continue;
    if (n == len) {
      *bits = (uint64_t)(1 + 4 * level);
      return OK;
    }
    if (n == len + 1 && p[len] >= '2' && p[len] <= '4') {
      *bits = (uint64_t)(1 + 4 * level + (p[len] - '1'));
      return OK;
    }
  }
  return GIVE_UP;
}

static int log_record(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  uint64_t bits;
  int r;
  if (KEY("timeUnixNano") || KEY("observedTimeUnixNano")) {
    if ((r = integer(value, 0, UINT64_MAX, &bits)) != OK) return r;
    return put_fixed(o, k[0] == 't' ? 1 : 11, bits, 8);
  }
  if (KEY("severityNumber")) {
    if (PyUnicode_Check(value)) {
      if ((r = severity_name(value, &bits)) != OK) return r;
    } else if (!PyLong_Check(value) || PyBool_Check(value)) {
      return GIVE_UP;
    } else if ((r = integer(value, 0, 24, &bits)) != OK) {
      return r;
    }
    if (put_tag(o, 2, 0) != OK) return FAILED;
    return put_varint(o, bits);
  }
  if (KEY("severityText")) return put_string(o, 3, value);
  if (KEY("body")) return any_object(o, 5, value, depth);
  if (KEY("attributes")) return repeated(o, 6, value, key_value, depth);
  if (KEY("droppedAttributesCount")) return uint32_field(o, 7, value);
  if (KEY("flags")) {
    if ((r = integer(value, 0, UINT32_MAX, &bits)) != OK) return r;
    return put_fixed(o, 8, bits, 4);
  }
  if (KEY("traceId")) return hex_id(o, 9, value);
  if (KEY("spanId")) return hex_id(o, 10, value);
  if (KEY("eventName")) return put_string(o, 12, value);
  return 2;
}

static int scope_logs(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("scope")) return message(o, 1, value, scope, depth);
  if (KEY("logRecords")) return repeated(o, 2, value, log_record, depth);
  if (KEY("schemaUrl")) return put_string(o, 3, value);
  return 2;
}

static int resource_logs(out *o, const char *k, Py_ssize_t n, PyObject *value, int depth) {
  if (KEY("resource")) return message(o, 1, value, resource, depth);
  if (KEY("scopeLogs")) return repeated(o, 2, value, scope_logs, depth);
  if (KEY("schemaUrl")) return put_string(o, 3, value);
  return 2;
}

/* Declared in module.c: bytes, None (the reference decides) or NULL with an exception. */
PyObject *sb_json_payload(PyObject *document) {
  if (!PyDict_Check(document)) Py_RETURN_NONE;
  if (PyDict_GetItemString(document, "resource_logs")) Py_RETURN_NONE;
  PyObject *resources = PyDict_GetItemString(document, "resourceLogs"); /* borrowed */
  out o = {NULL, 0, 0};
  int r = OK;
  if (resources && resources != Py_None) r = repeated(&o, 1, resources, resource_logs, 0);
  PyObject *result = NULL;
  if (r == OK)
    result = PyBytes_FromStringAndSize((const char *)o.data, (Py_ssize_t)o.len);
  else if (r == GIVE_UP)
    result = Py_NewRef(Py_None);
  free(o.data);
  return result;
}
