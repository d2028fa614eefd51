/* util/container: reference checks, inspect parsing (podman and Docker
 * shapes, stopped and malformed answers) and the process list of a "container"
 * made of a child in a pid namespace of its own. */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/container.h"
#include "util/proc.h"

static const char podman_running[] =
    "[{\"Id\":\"c7b7f567\",\"Name\":\"web\",\"State\":{\"Status\":\"running\","
    "\"Running\":true,\"Pid\":29831}}]";
static const char docker_running[] =
    "{\"Id\":\"abab\",\"Name\":\"/web\",\"State\":{\"Status\":\"running\",\"Running\":true,"
    "\"Pid\":4242}}";
static const char docker_exited[] =
    "{\"Id\":\"abab\",\"Name\":\"/old\",\"State\":{\"Status\":\"exited\",\"Running\":false,"
    "\"Pid\":0}}";

Test(container, validates_references)
{
    struct fl_err e = {0};

    cr_assert_eq(fl_container_validate("web", &e), 0);
    cr_assert_eq(fl_container_validate("podman:web-1.a_b", &e), 0);
    cr_assert_eq(fl_container_validate("docker:c7b7f567", &e), 0);
    cr_assert_eq(fl_container_validate("", &e), -FL_EUSAGE);
    cr_assert_eq(fl_container_validate("docker:", &e), -FL_EUSAGE);
    cr_assert_eq(fl_container_validate("a/b", &e), -FL_EUSAGE);
    cr_assert(strstr(e.msg, "letters, digits"), "%s", e.msg);
    cr_assert_eq(fl_container_validate("../x", &e), -FL_EUSAGE);
    cr_assert_eq(fl_container_validate(NULL, &e), -FL_EUSAGE);
}

Test(container, parses_podman_and_docker_answers)
{
    struct fl_container c;
    struct fl_err e = {0};

    cr_assert_eq(fl_container_parse_inspect("web", "podman", podman_running,
                                            sizeof podman_running - 1, &c, &e),
                 0, "%s", e.msg);
    cr_assert_eq(c.pid, 29831);
    cr_assert_str_eq(c.id, "c7b7f567");
    cr_assert_str_eq(c.name, "web");
    cr_assert_str_eq(c.runtime, "podman");
    cr_assert_eq(fl_container_parse_inspect("web", "docker", docker_running,
                                            sizeof docker_running - 1, &c, &e),
                 0, "%s", e.msg);
    cr_assert_eq(c.pid, 4242);
    cr_assert_str_eq(c.name, "web"); /* Docker's leading '/' dropped */
}

Test(container, refuses_stopped_and_malformed_answers)
{
    struct fl_container c;
    struct fl_err e = {0};
    const char *bad[] = {"",
                         "[]",
                         "{}",
                         "[1]",
                         "{\"Id\":\"x\"}",
                         "{\"Id\":\"x\",\"State\":{}}",
                         "{\"Id\":\"x\",\"State\":{\"Running\":true,\"Pid\":1}}",
                         "{\"Id\":\"x\",\"State\":{\"Running\":true,\"Pid\":\"12\"}}",
                         "{\"Id\":\"x\",\"State\":{\"Running\":true,\"Pid\":99999999}}"};

    cr_assert_eq(fl_container_parse_inspect("old", "docker", docker_exited,
                                            sizeof docker_exited - 1, &c, &e),
                 -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "not running (status exited)") && strstr(e.msg, "docker start old"),
              "%s", e.msg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = '\0';
        cr_assert_lt(fl_container_parse_inspect("x", "podman", bad[i], strlen(bad[i]), &c, &e), 0,
                     "accepted %s", bad[i]);
        cr_assert(e.msg[0], "no message for %s", bad[i]);
    }
}

/* A child in a new pid namespace stands for a container without a cgroup of
 * its own: its processes are those of that namespace, and only those. */
Test(container, lists_the_processes_of_a_pid_namespace)
{
    int ready[2];
    pid_t outer, inner = 0;
    struct fl_container c = {.runtime = "podman", .name = "t"};
    struct fl_err e = {0};
    pid_t *pids = NULL;
    size_t n = 0;
    char ch;

    cr_assert_eq(pipe(ready), 0);
    outer = fork();
    cr_assert_geq(outer, 0);
    if (outer == 0) {
        pid_t kid;
        if (unshare(CLONE_NEWPID) != 0)
            _exit(1);
        kid = fork(); /* pid 1 of the new namespace */
        if (kid == 0) {
            if (fork() == 0) /* a second process in it */
                pause();
            if (write(ready[1], "x", 1) != 1)
                _exit(1);
            pause();
        }
        waitpid(kid, NULL, 0);
        _exit(0);
    }
    cr_assert_eq(read(ready[0], &ch, 1), 1);
    /* The namespace's init is the outer child's only child. */
    for (int i = 0; i < 200 && !inner; i++) {
        char path[64], buf[64];
        FILE *f;
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)outer, (int)outer);
        if ((f = fopen(path, "re"))) {
            if (fgets(buf, sizeof buf, f))
                inner = (pid_t)atoi(buf);
            fclose(f);
        }
    }
    cr_assert_gt(inner, 0);
    c.pid = inner;
    c.start = fl_proc_start_time(inner);
    cr_assert_eq(fl_container_pids(&c, &pids, &n, &e), 0, "%s", e.msg);
    cr_expect_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        cr_expect_neq(pids[i], outer);
    free(pids);
    kill(inner, SIGKILL); /* pid 1 of the namespace: takes the second one along */
    waitpid(outer, NULL, 0);
}

/* faultline's own pid namespace and cgroups are never a container's. */
Test(container, refuses_a_process_that_shares_everything_with_us)
{
    struct fl_container c = {.runtime = "podman", .name = "self"};
    struct fl_err e = {0};
    pid_t *pids = NULL;
    size_t n = 0;

    c.pid = getpid();
    c.start = fl_proc_start_time(c.pid);
    cr_assert_eq(fl_container_pids(&c, &pids, &n, &e), -FL_ENOTARGET);
    cr_assert(strstr(e.msg, "cannot be told apart"), "%s", e.msg);
    cr_assert_null(pids);
}
