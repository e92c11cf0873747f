/* CPython binding of the OTLP → Arrow decoder: starbase.router.native._otlp_arrow.
 *
 * decode(payloads, received, max_values=-1, sorted=True) -> ((schema, array), used)
 *   payloads: a sequence of bytes-like ExportLogsServiceRequest payloads; received: a sequence
 *   of ints (ns), one per payload. Decodes payloads in order, stopping after the one that
 *   brings the rows' attribute values (resource and scope ones counted per row) to
 *   max_values (when >= 0); `used` is how many were decoded. Returns their rows in the stored
 *   layout (sb_batch_export_rows: in the files' order when `sorted`) as PyCapsules of the
 *   Arrow PyCapsule interface ("arrow_schema", "arrow_array"). Runs without the GIL. Raises
 *   DecodeError (a ValueError) naming the payload, the byte offset and what is wrong;
 *   BatchTooLarge when a column would pass 2 GiB; MemoryError.
 * validate(payload) -> int: the number of LogRecords, or DecodeError.
 * check(payload, received) -> (records, own values, shared values, max time, min stamp,
 *   longest service.name, unusual service.name, days or None): what the request path checks
 *   (sb_check), or DecodeError.
 * json_payload(document) -> bytes | None: the protobuf payload of a parsed OTLP/JSON document
 *   (json.c), or None where protobuf's json_format must decide. Holds the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "otlp_arrow.h"

static PyObject *DecodeError;
static PyObject *BatchTooLarge;

static void free_schema_capsule(PyObject *capsule) {
  struct ArrowSchema *schema = PyCapsule_GetPointer(capsule, "arrow_schema");
  if (schema && schema->release) schema->release(schema);
  free(schema);
}

static void free_array_capsule(PyObject *capsule) {
  struct ArrowArray *array = PyCapsule_GetPointer(capsule, "arrow_array");
  if (array && array->release) array->release(array);
  free(array);
}

/* (schema capsule, array capsule); takes the structs (released on failure). */
static PyObject *capsules(struct ArrowSchema *schema, struct ArrowArray *array) {
  struct ArrowSchema *s = malloc(sizeof *s);
  struct ArrowArray *a = malloc(sizeof *a);
  if (!s || !a) {
    free(s);
    free(a);
    schema->release(schema);
    array->release(array);
    return PyErr_NoMemory();
  }
  *s = *schema;
  *a = *array;
  schema->release = NULL;
  array->release = NULL;
  PyObject *sc = PyCapsule_New(s, "arrow_schema", free_schema_capsule);
  if (!sc) {
    s->release(s);
    free(s);
    a->release(a);
    free(a);
    return NULL;
  }
  PyObject *ac = PyCapsule_New(a, "arrow_array", free_array_capsule);
  if (!ac) {
    Py_DECREF(sc);
    a->release(a);
    free(a);
    return NULL;
  }
  PyObject *pair = PyTuple_Pack(2, sc, ac);
  Py_DECREF(sc);
  Py_DECREF(ac);
  return pair;
}

static PyObject *raise_error(const sb_error *error) {
  if (error->code == SB_NO_MEMORY) return PyErr_NoMemory();
  if (error->code == SB_TOO_LARGE) {
    PyErr_SetString(BatchTooLarge, sb_error_name(error->code));
    return NULL;
  }
  PyObject *message = PyUnicode_FromFormat("payload %zu: %s at byte %zu", error->payload,
                                           sb_error_name(error->code), error->offset);
  if (message) {
    PyErr_SetObject(DecodeError, message);
    Py_DECREF(message);
  }
  return NULL;
}

static PyObject *decode(PyObject *self, PyObject *args, PyObject *kwargs) {
  (void)self;
  static char *keywords[] = {"payloads", "received", "max_values", "sorted", NULL};
  PyObject *payloads_arg, *received_arg;
  long long max_values = -1;
  int sorted = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|Lp:decode", keywords, &payloads_arg,
                                   &received_arg, &max_values, &sorted))
    return NULL;
  PyObject *payloads = PySequence_Fast(payloads_arg, "payloads must be a sequence");
  if (!payloads) return NULL;
  PyObject *received = PySequence_Fast(received_arg, "received must be a sequence");
  if (!received) {
    Py_DECREF(payloads);
    return NULL;
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(payloads);
  PyObject *result = NULL;
  Py_buffer *views = NULL;
  uint64_t *times = NULL;
  Py_ssize_t held = 0, used = 0;
  sb_batch *batch = NULL;
  if (PySequence_Fast_GET_SIZE(received) != n) {
    PyErr_SetString(PyExc_ValueError, "one received time per payload");
    goto done;
  }
  views = PyMem_Calloc((size_t)(n ? n : 1), sizeof *views);
  times = PyMem_Calloc((size_t)(n ? n : 1), sizeof *times);
  if (!views || !times) {
    PyErr_NoMemory();
    goto done;
  }
  for (; held < n; held++) {
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(payloads, held), &views[held],
                           PyBUF_SIMPLE) < 0)
      goto done;
    times[held] = PyLong_AsUnsignedLongLongMask(PySequence_Fast_GET_ITEM(received, held));
    if (PyErr_Occurred()) {
      PyBuffer_Release(&views[held]);
      goto done;
    }
  }
  batch = sb_batch_new();
  if (!batch) {
    PyErr_NoMemory();
    goto done;
  }
  sb_error error = {SB_OK, 0, 0};
  struct ArrowArray array;
  struct ArrowSchema schema;
  int status = SB_OK;
  Py_BEGIN_ALLOW_THREADS
  for (Py_ssize_t i = 0; i < n && status == SB_OK; i++) {
    status = sb_batch_add(batch, views[i].buf, (size_t)views[i].len, times[i], &error);
    error.payload = (size_t)i;
    used = i + 1;
    if (max_values >= 0 && sb_batch_values(batch) >= (uint64_t)max_values) break;
  }
  if (status == SB_OK) status = error.code = sb_batch_export_rows(batch, sorted, &array, &schema);
  Py_END_ALLOW_THREADS
  if (status != SB_OK) {
    raise_error(&error);
    goto done;
  }
  PyObject *pair = capsules(&schema, &array);
  if (pair) {
    result = Py_BuildValue("(Nn)", pair, used);
  }
done:
  sb_batch_free(batch);
  for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
  PyMem_Free(views);
  PyMem_Free(times);
  Py_DECREF(payloads);
  Py_DECREF(received);
  return result;
}

static PyObject *check(PyObject *self, PyObject *args) {
  (void)self;
  Py_buffer view;
  unsigned long long received;
  if (!PyArg_ParseTuple(args, "y*K:check", &view, &received)) return NULL;
  sb_error error = {SB_OK, 0, 0};
  sb_summary s;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = sb_check(view.buf, (size_t)view.len, (uint64_t)received, &s, &error);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&view);
  if (status != SB_OK) return raise_error(&error);
  PyObject *days;
  if (s.days < 0) {
    days = Py_NewRef(Py_None);
  } else {
    days = PyFrozenSet_New(NULL);
    for (int i = 0; days && i < s.days; i++) {
      PyObject *day = PyLong_FromUnsignedLongLong(s.day[i]);
      if (!day || PySet_Add(days, day) < 0) Py_CLEAR(days);
      Py_XDECREF(day);
    }
    if (!days) return NULL;
  }
  return Py_BuildValue("(KKKKKnON)", s.records, s.own_values, s.shared_values, s.max_time,
                       s.min_stamp, (Py_ssize_t)s.max_service,
                       s.unusual_service ? Py_True : Py_False, days);
}

static PyObject *validate(PyObject *self, PyObject *arg) {
  (void)self;
  Py_buffer view;
  if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
  sb_error error = {SB_OK, 0, 0};
  uint64_t records = 0;
  int status;
  Py_BEGIN_ALLOW_THREADS
  status = sb_validate(view.buf, (size_t)view.len, &records, &error);
  Py_END_ALLOW_THREADS
  PyBuffer_Release(&view);
  if (status != SB_OK) return raise_error(&error);
  return PyLong_FromUnsignedLongLong(records);
}

PyObject *sb_json_payload(PyObject *document); /* json.c */

static PyObject *json_payload(PyObject *self, PyObject *document) {
  (void)self;
  return sb_json_payload(document);
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))decode, METH_VARARGS | METH_KEYWORDS,
     "decode(payloads, received, max_values=-1, sorted=True) -> ((schema, array), used)"},
    {"validate", validate, METH_O, "validate(payload) -> number of LogRecords"},
    {"check", check, METH_VARARGS, "check(payload, received) -> the request path's summary"},
    {"json_payload", json_payload, METH_O,
     "json_payload(document) -> protobuf bytes of a parsed OTLP/JSON document, or None"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_otlp_arrow",
                                    "OTLP logs protobuf decoded into Arrow columns.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__otlp_arrow(void) {
  PyObject *m = PyModule_Create(&module);
  if (!m) return NULL;
  DecodeError = PyErr_NewException("starbase.router.native._otlp_arrow.DecodeError",
                                   PyExc_ValueError, NULL);
  BatchTooLarge = PyErr_NewException("starbase.router.native._otlp_arrow.BatchTooLarge",
                                     PyExc_OverflowError, NULL);
  if (!DecodeError || !BatchTooLarge || PyModule_AddObjectRef(m, "DecodeError", DecodeError) < 0 ||
      PyModule_AddObjectRef(m, "BatchTooLarge", BatchTooLarge) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
