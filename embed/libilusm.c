/* libilusm.c: the C side of embedding ilusm (include/ilusm.h). It starts CPython
 * once, with the ilusm installation's Python (ILUSM_PYTHON, else the one the
 * library was built with) and the project on sys.path (ILUSM_HOME, else the
 * build's), and turns each call into a method call on a stage0.embed.Session.
 * The host keeps its own signal handlers; the GIL is released between calls. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ilusm.h"

struct ilusm {
    PyObject *session;
};

static PyObject *embed_module = NULL;
static char version_text[64] = "";

/* Import stage0.embed (the GIL held); 0 on success. */
static int import_embed(void) {
    const char *home = getenv("ILUSM_HOME");
    PyObject *path = PySys_GetObject("path");
    PyObject *entry = PyUnicode_FromString(home ? home : ILUSM_BUILD_HOME);
    if (path == NULL || entry == NULL || PyList_Insert(path, 0, entry) != 0) return -1;
    Py_DECREF(entry);
    embed_module = PyImport_ImportModule("stage0.embed");
    if (embed_module == NULL) {
        PyErr_Print();
        return -1;
    }
    PyObject *v = PyObject_CallMethod(embed_module, "version", NULL);
    if (v != NULL) {
        snprintf(version_text, sizeof version_text, "%s", PyUnicode_AsUTF8(v));
        Py_DECREF(v);
    }
    return 0;
}

/* Start Python (unless the host already did) and import stage0.embed, once; 0 on success. */
static int start_python(void) {
    if (embed_module != NULL) return 0;
    if (Py_IsInitialized()) {  /* a host that embeds Python itself */
        PyGILState_STATE gil = PyGILState_Ensure();
        int r = import_embed();
        PyGILState_Release(gil);
        return r;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;  /* the host keeps its own */
    const char *python = getenv("ILUSM_PYTHON");
    PyStatus status = PyConfig_SetBytesString(&config, &config.executable, python ? python : ILUSM_BUILD_PYTHON);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) return -1;
    int r = import_embed();
    PyEval_SaveThread();  /* release the GIL: every API call takes it */
    return r;
}

/* A copy the caller frees with ilusm_str_free. */
static char *copy_text(const char *s) {
    size_t n = strlen(s) + 1;
    char *out = malloc(n);
    if (out != NULL) memcpy(out, s, n);
    return out;
}

/* The (status, text) a Session method returned, as the C API gives it. */
static ilusm_status take_result(PyObject *result, char **out) {
    ilusm_status status = ILUSM_ERROR;
    const char *text = "error: internal error in the embedding";
    if (result != NULL && PyTuple_Check(result) && PyTuple_Size(result) == 2) {
        status = (ilusm_status)PyLong_AsLong(PyTuple_GetItem(result, 0));
        const char *t = PyUnicode_AsUTF8(PyTuple_GetItem(result, 1));
        if (t != NULL) text = t;
    } else {
        PyErr_Print();
    }
    if (out != NULL) *out = copy_text(text);
    Py_XDECREF(result);
    return status;
}

ilusm *ilusm_new(const char *caps) {
    if (start_python() != 0) return NULL;
    PyGILState_STATE gil = PyGILState_Ensure();
    ilusm *vm = calloc(1, sizeof *vm);
    if (vm != NULL) {
        vm->session = PyObject_CallMethod(embed_module, "Session", "z", caps);
        if (vm->session == NULL) {
            PyErr_Print();
            free(vm);
            vm = NULL;
        }
    }
    PyGILState_Release(gil);
    return vm;
}

/* session.method(a) or session.method(a, b) under the GIL, as the C API returns it. */
static ilusm_status call_session(ilusm *vm, const char *method, const char *a, const char *b, char **out) {
    fflush(stdout);  /* the host's output first, then the script's */
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = b == NULL ? PyObject_CallMethod(vm->session, method, "s", a)
                            : PyObject_CallMethod(vm->session, method, "ss", a, b);
    ilusm_status s = take_result(r, out);
    PyGILState_Release(gil);
    return s;
}

ilusm_status ilusm_eval(ilusm *vm, const char *src, char **result_json) {
    return call_session(vm, "eval", src, NULL, result_json);
}

ilusm_status ilusm_run_file(ilusm *vm, const char *path, char **result_json) {
    return call_session(vm, "run_file", path, NULL, result_json);
}

ilusm_status ilusm_call(ilusm *vm, const char *fn, const char *args_json, char **result_json) {
    return call_session(vm, "call", fn, args_json ? args_json : "[]", result_json);
}

int ilusm_register(ilusm *vm, const char *name, int arity, ilusm_host_fn fn, void *ud) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(vm->session, "register", "siKK", name, arity,
                                      (unsigned long long)(uintptr_t)fn, (unsigned long long)(uintptr_t)ud);
    int status = r == NULL ? -1 : 0;
    if (r == NULL) PyErr_Print();
    Py_XDECREF(r);
    PyGILState_Release(gil);
    return status;
}

void ilusm_str_free(char *s) { free(s); }

void ilusm_free(ilusm *vm) {
    if (vm == NULL) return;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(vm->session, "close", NULL);
    Py_XDECREF(r);
    Py_DECREF(vm->session);
    PyGILState_Release(gil);
    free(vm);
}

const char *ilusm_version(void) {
    if (start_python() != 0) return "";
    return version_text;
}
