/* Libraries loaded on first use. faultline calls into libcurl, libpq,
 * hiredis, libmicrohttpd, GnuTLS, ldns and libfuse3 from a few commands
 * only, but linking them makes every start of the binary load ~40 shared
 * libraries (their own dependencies: Kerberos, LDAP, TLS, ...), about 18 ms
 * before `check` or `--help` reads a byte. On x86-64 the binary does not
 * link them: each function it calls is a stub (generated from
 * src/util/lazy.syms by scripts/gen-lazy) that, on its first call, opens the
 * library with dlopen, finds the function and jumps to it from then on.
 * A library that cannot be opened ends the process with exit 6 and a
 * message naming the Debian package to install. Other architectures link
 * the libraries as usual (meson option lazy_libs). */
#ifndef FL_UTIL_LAZY_H
#define FL_UTIL_LAZY_H

#include <stddef.h>

struct fl_lazy_lib {
    const char *soname;  /* "libpq.so.5" */
    const char *package; /* "libpq5" */
};

struct fl_lazy_sym {
    const char *name;
    int lib; /* index into fl_lazy_libs */
};

/* Generated tables (NULL-terminated) and the stubs' pointers. */
extern const struct fl_lazy_lib fl_lazy_libs[];
extern const struct fl_lazy_sym fl_lazy_syms[];
extern const size_t fl_lazy_nsyms;
extern void *fl_lazy_ptrs[];

/* Called by a stub on its first call: the real function of symbol i (never
 * returns NULL: exits with a message instead). */
void *fl_lazy_resolve(unsigned i);

/* How many of the lazy libraries this process has loaded (for tests). */
int fl_lazy_loaded(void);

#endif
