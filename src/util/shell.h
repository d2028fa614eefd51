/* Run a shell command for a bounded time, on this machine or inside a lab
 * host (as `faultline lab exec LAB/hN -- /bin/sh -c CMD`, this binary), and
 * keep the head of its output. Shared by the engine's host commands and by
 * process.restart's revert, which the guardian runs from the journal. */
#ifndef FL_UTIL_SHELL_H
#define FL_UTIL_SHELL_H

#include <stddef.h>
#include <stdint.h>

struct fl_shell_where {
    const char *lab_ref;   /* "LAB/hN": inside that lab host; NULL: this machine */
    const char *state_dir; /* the lab's state directory (--state-dir), or NULL: its default */
    const char *cwd;       /* the command's working directory, or NULL: the caller's */
};

/* Run `cmd` with /bin/sh where w says (NULL: this machine) for at most
 * timeout_ms; its stdout and stderr go to out (the head, NUL-terminated,
 * trailing newlines dropped). Processes it leaves in the background keep
 * running. Returns the exit status, 128+signal, -ETIMEDOUT (the command's
 * process group was killed) or another negative errno when it could not
 * start. */
int fl_shell_run(const struct fl_shell_where *w, const char *cmd, int64_t timeout_ms, char *out,
                 size_t len);

#endif
