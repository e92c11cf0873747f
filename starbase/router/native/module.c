/* CPython binding of the OTLP → Arrow decoder: starbase.router.native._otlp_arrow.
 *
 * decode(payloads, received) -> ((schema, array), (schema, array), (schema, array))
 *   payloads: a sequence of bytes-like ExportLogsServiceRequest payloads; received: a sequence
 *   of ints (ns), one per payload. Returns the records, groups and resources tables as
 *   PyCapsules of the Arrow PyCapsule interface ("arrow_schema", "arrow_array"). The decoding
 *   runs without the GIL. Raises DecodeError (a ValueError) naming the payload, the byte
 *   offset and what is wrong; BatchTooLarge when a column would pass 2 GiB; MemoryError.
 * validate(payload) -> int: the number of LogRecords, or DecodeError.
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

static PyObject *decode(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *payloads_arg, *received_arg;
  if (!PyArg_ParseTuple(args, "OO:decode", &payloads_arg, &received_arg)) return NULL;
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
  Py_ssize_t held = 0;
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
  struct ArrowArray arrays[3];
  struct ArrowSchema schemas[3];
  int status = SB_OK;
  Py_BEGIN_ALLOW_THREADS
  for (Py_ssize_t i = 0; i < n && status == SB_OK; i++) {
    status = sb_batch_add(batch, views[i].buf, (size_t)views[i].len, times[i], &error);
    error.payload = (size_t)i;
  }
  if (status == SB_OK) status = error.code = sb_batch_export(batch, arrays, schemas);
  Py_END_ALLOW_THREADS
  if (status != SB_OK) {
    raise_error(&error);
    goto done;
  }
  result = PyTuple_New(3);
  for (int i = 0; i < 3; i++) {
    PyObject *pair = result ? capsules(&schemas[i], &arrays[i]) : NULL;
    if (!pair) {
      for (int j = i; j < 3; j++) {
        if (schemas[j].release) schemas[j].release(&schemas[j]);
        if (arrays[j].release) arrays[j].release(&arrays[j]);
      }
      Py_CLEAR(result);
      break;
    }
    PyTuple_SET_ITEM(result, i, pair);
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

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(payloads, received) -> three (schema, array) PyCapsule pairs"},
    {"validate", validate, METH_O, "validate(payload) -> number of LogRecords"},
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
