/* ilusm.h: run ilusm inside a C program (docs/embedding.md).
 *
 * One `ilusm *` is one session: globals persist across ilusm_eval,
 * ilusm_run_file and ilusm_call. Values cross as JSON text (a buf as
 * {"$buf": "hex"}; a function cannot cross). Every returned string is
 * malloc'd: release it with ilusm_str_free. The API takes Python's GIL on each
 * call, so it may be called from any thread, one call at a time.
 */
#ifndef ILUSM_H
#define ILUSM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ilusm ilusm;

typedef enum {
    ILUSM_OK = 0,            /* *result_json holds the result as JSON */
    ILUSM_ERROR = 1,         /* a runtime error: the text `ilusm run` prints (message and trace) */
    ILUSM_COMPILE_ERROR = 2, /* a syntax or compile error: FILE:LINE:COL, the line and a caret */
    ILUSM_EXIT = 3           /* the script called sys.exit: *result_json is the status; the host goes on */
} ilusm_status;

/* A new session holding caps ("io,fs:ro,net"; NULL: the default set, everything but ffi); NULL on failure. */
ilusm *ilusm_new(const char *caps);

/* Run a snippet (compiled as <embed>.ilu in the working folder); *result_json: its last expression's value. */
ilusm_status ilusm_eval(ilusm *vm, const char *src, char **result_json);

/* Run a program file; its functions stay callable with ilusm_call. *result_json: "null". */
ilusm_status ilusm_run_file(ilusm *vm, const char *path, char **result_json);

/* Call a function the session defined, with a JSON list of arguments. */
ilusm_status ilusm_call(ilusm *vm, const char *fn, const char *args_json, char **result_json);

/* A C function ilusm code can call: it gets the arguments as a JSON list and returns malloc'd JSON. */
typedef char *(*ilusm_host_fn)(void *ud, const char *args_json);

/* Make fn callable from ilusm as `name` taking arity arguments; 0 on success. */
int ilusm_register(ilusm *vm, const char *name, int arity, ilusm_host_fn fn, void *ud);

/* Release a string the API returned. */
void ilusm_str_free(char *s);

/* End a session: its sockets, processes and libraries are closed. */
void ilusm_free(ilusm *vm);

/* The ilusm version ("0.x.y"). */
const char *ilusm_version(void);

#ifdef __cplusplus
}
#endif
#endif
