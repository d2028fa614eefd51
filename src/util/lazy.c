/* Resolving the lazy stubs (lazy.h): one dlopen per library, one dlsym per
 * function, the first time each is called. */
#include "util/lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/err.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handles[32];

void *fl_lazy_resolve(unsigned i)
{
    const struct fl_lazy_sym *s = &fl_lazy_syms[i];
    const struct fl_lazy_lib *l = &fl_lazy_libs[s->lib];
    void *fn;

    pthread_mutex_lock(&lock);
    if (!handles[s->lib])
        handles[s->lib] = dlopen(l->soname, RTLD_NOW | RTLD_GLOBAL);
    if (!handles[s->lib]) {
        fprintf(stderr,
                "faultline: error: this command needs %s, which cannot be loaded (%s): install "
                "the Debian package %s (scripts/bootstrap installs it)\n",
                l->soname, dlerror(), l->package);
        exit(FL_EUNSUPPORTED);
    }
    fn = dlsym(handles[s->lib], s->name);
    if (!fn) {
        fprintf(stderr,
                "faultline: error: %s has no function %s (%s): faultline was built "
                "against another version of it\n",
                l->soname, s->name, dlerror());
        exit(FL_EUNSUPPORTED);
    }
    __atomic_store_n(&fl_lazy_ptrs[i], fn, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
    return fn;
}

int fl_lazy_loaded(void)
{
    int n = 0;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < sizeof handles / sizeof handles[0]; i++)
        n += handles[i] != NULL;
    pthread_mutex_unlock(&lock);
    return n;
}
