/* faultline lab up|down|status|exec: hosts as network namespaces on a bridge. */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lab/lab.h"
#include "remote/client.h"
#include "util/err.h"
#include "util/parse.h"
#include "util/time.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultline lab up [--name NAME] [--hosts N] [--subnet A.B.C.D/P] [--no-agents]\n"
            "                        [--agent-commands] [--json]\n"
            "       faultline lab down [NAME]\n"
            "       faultline lab status [NAME] [--json]\n"
            "       faultline lab exec NAME/HOST -- COMMAND [ARG...]\n\n"
            "A lab is N hosts, each a network namespace NAME-hK with eth0 on a bridge\n"
            "flb-NAME in the host's namespace, addresses from --subnet (the bridge takes\n"
            "the first, hK the (K+1)th) and an /etc/hosts naming every host (hK and\n"
            "NAME-hK), and a `faultline agent` in every host on ADDR:7421 with the lab's\n"
            "token: `faultline inject KIND ... --host NAME/hK` applies a fault through it\n"
            "under a lease (docs/agent.md); `--netns NAME-hK` reaches a host directly.\n\n"
            "  --name NAME       1-%d lower-case letters and digits (default: lab)\n"
            "  --hosts N         1-%d hosts (default: 3)\n"
            "  --subnet NET      an IPv4 network /16../29 that no route of this host\n"
            "                    overlaps (default: " FL_LAB_DEFAULT_SUBNET ")\n"
            "  --no-agents       start no agent in the hosts\n"
            "  --agent-commands  start the agents with --allow-commands: experiments may run\n"
            "                    setup/teardown, command steps and restarts through them\n"
            "  --json            print the lab as JSON\n"
            "  --state-dir DIR   where the lab file is kept (default $FAULTLINE_STATE_DIR\n"
            "                    or /run/faultline)\n\n"
            "`lab down` stops every process running in the lab's namespaces (SIGTERM, then\n"
            "SIGKILL after a second) and removes the namespaces, links and files, also\n"
            "what a killed `lab up` left. `lab exec` runs COMMAND inside the host with the\n"
            "lab's /etc/hosts; its exit status is COMMAND's (127: not found).\n"
            "Exit codes: 0 ok, 2 usage, 3 no such lab or host, 4 name in use or subnet\n"
            "overlaps a route, 5 not root (docs/lab.md).\n",
            FL_LAB_NAME_MAX, FL_LAB_MAX_HOSTS);
}

/* Each host's agent: {"ok", "pid", "faults", "commands"} from its health, or {"ok":
 * false, "error"} (none when the lab has no token: built with --no-agents). */
static void add_agents(const struct fl_lab *lab, json_t *j, const char *state_dir)
{
    char tok[256], url[64];
    struct fl_err e = {0};
    json_t *h;
    size_t i;

    if (fl_lab_agent_token(lab->name, state_dir, tok, sizeof tok, &e))
        return;
    json_array_foreach (json_object_get(j, "hosts"), i, h) {
        struct fl_agent_client_opts o = {.url = url, .token = tok, .timeout_ms = 1000};
        struct fl_agent_client *c = NULL;
        json_t *health = NULL;
        if (!json_is_string(json_object_get(h, "addr")))
            continue;
        snprintf(url, sizeof url, "http://%s:%d", json_string_value(json_object_get(h, "addr")),
                 FL_LAB_AGENT_PORT);
        o.name = json_string_value(json_object_get(h, "name"));
        if (fl_agent_client_new(&o, &c, &e) == 0 && fl_agent_client_health(c, &health, &e) == 0)
            json_object_set_new(h, "agent",
                                json_pack("{s:b,s:O?,s:O?,s:b}", "ok", 1, "pid",
                                          json_object_get(health, "pid"), "faults",
                                          json_object_get(health, "faults"), "commands",
                                          json_is_true(json_object_get(health, "commands"))));
        else
            json_object_set_new(h, "agent", json_pack("{s:b,s:s}", "ok", 0, "error", e.msg));
        json_decref(health);
        fl_agent_client_free(c);
    }
}

static json_t *lab_json(const struct fl_lab *lab, bool ready, const char *state_dir)
{
    json_t *j = fl_lab_to_json(lab, ready);

    add_agents(lab, j, state_dir);
    return j;
}

static void print_lab(const struct fl_lab *lab, bool ready, bool as_json, const char *state_dir)
{
    json_t *j = lab_json(lab, ready, state_dir);

    if (as_json) {
        char *s = json_dumps(j, JSON_INDENT(2));

        puts(s ? s : "{}");
        free(s);
    } else {
        json_t *h;
        size_t i;

        printf("lab %s%s: bridge %s %s (%s)\n", lab->name, ready ? "" : " (incomplete)",
               lab->bridge, json_string_value(json_object_get(j, "bridge_addr")) ?: "-",
               json_string_value(json_object_get(j, "subnet")) ?: "subnet unknown");
        json_array_foreach (json_object_get(j, "hosts"), i, h) {
            json_t *ag = json_object_get(h, "agent");
            char agent[96] = "";
            if (json_is_true(json_object_get(ag, "ok")))
                snprintf(agent, sizeof agent, ", agent pid %lld (%lld fault(s)%s)",
                         (long long)json_integer_value(json_object_get(ag, "pid")),
                         (long long)json_integer_value(json_object_get(ag, "faults")),
                         json_is_true(json_object_get(ag, "commands")) ? ", runs commands" : "");
            else if (ag)
                snprintf(agent, sizeof agent, ", agent DOWN");
            printf("  %-4s %-16s %-15s %s, %lld process(es)%s\n",
                   json_string_value(json_object_get(h, "name")),
                   json_string_value(json_object_get(h, "netns")),
                   json_string_value(json_object_get(h, "addr")) ?: "-",
                   json_is_true(json_object_get(h, "up")) ? "up" : "missing",
                   (long long)json_integer_value(json_object_get(h, "processes")), agent);
        }
    }
    json_decref(j);
}

/* Options shared by the lab subcommands; positional arguments are left at
 * argv[optind..]. Returns 0, 1 for --help, or a negative code. */
struct lab_opts {
    const char *name, *subnet, *state_dir;
    int hosts;
    bool json, named, no_agents, agent_commands;
};

static int parse_opts(int argc, char **argv, bool in_order, struct lab_opts *o, struct fl_err *e)
{
    static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
                                             {"hosts", required_argument, NULL, 'H'},
                                             {"subnet", required_argument, NULL, 'S'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"no-agents", no_argument, NULL, 'A'},
                                             {"state-dir", required_argument, NULL, 's'},
                                             {"agent-commands", no_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    long long v;
    int c;

    optind = 1;
    /* exec stops at NAME/HOST: what follows is the command's */
    while ((c = getopt_long(argc, argv, in_order ? "+" : "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->name = optarg;
            o->named = true;
            break;
        case 'H':
            if (fl_parse_int(optarg, 1, FL_LAB_MAX_HOSTS, &v, e) < 0)
                return fl_err_prefix(e, "--hosts");
            o->hosts = (int)v;
            break;
        case 'S':
            o->subnet = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'A':
            o->no_agents = true;
            break;
        case 'C':
            o->agent_commands = true;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'h':
            return 1;
        default:
            return fl_err_set(e, FL_EUSAGE, "run `faultline lab --help` for the options");
        }
    }
    return 0;
}

static int lab_up(struct lab_opts *o, struct fl_err *e)
{
    struct fl_lab lab;
    int64_t t0 = fl_mono_ns();

    if (fl_lab_plan(&lab, o->name, o->hosts, o->subnet, e) < 0)
        return fl_cli_fail(e);
    lab.agents = !o->no_agents;
    lab.agent_commands = o->agent_commands;
    if (o->no_agents && o->agent_commands) {
        fl_err_set(e, FL_EUSAGE,
                   "lab up: --agent-commands needs the agents that --no-agents "
                   "leaves out; drop one of them");
        return fl_cli_fail(e);
    }
    if (fl_lab_up(&lab, fl_cli_state_dir(o->state_dir), e) < 0)
        return fl_cli_fail(e);
    print_lab(&lab, true, o->json, fl_cli_state_dir(o->state_dir));
    if (!o->json)
        printf("up in %lld ms; run commands with `faultline lab exec %s/h1 -- CMD`, remove it "
               "with `faultline lab down %s`\n",
               (long long)((fl_mono_ns() - t0) / 1000000), lab.name, lab.name);
    return 0;
}

static int lab_down(struct lab_opts *o, struct fl_err *e)
{
    struct fl_lab_down_report r;

    if (fl_lab_down(o->name, fl_cli_state_dir(o->state_dir), &r, e) < 0)
        return fl_cli_fail(e);
    printf("lab %s removed: %d namespace(s), %d link(s), %d file(s), %d process(es) stopped\n",
           o->name, r.namespaces, r.links, r.files, r.processes);
    return 0;
}

static int lab_status(struct lab_opts *o, bool one, struct fl_err *e)
{
    char(*names)[FL_LAB_NAME_MAX + 1] = NULL;
    json_t *all = json_array();
    size_t n = 0;
    int rc = 0;

    if (one) {
        names = calloc(1, sizeof *names);
        if (names && fl_lab_check_name(o->name, e) == 0) {
            snprintf(names[0], sizeof names[0], "%s", o->name);
            n = 1;
        } else {
            rc = -FL_EUSAGE;
        }
    } else {
        rc = fl_lab_list(&names, &n, e);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        struct fl_lab lab;
        bool ready;

        if ((rc = fl_lab_load(names[i], fl_cli_state_dir(o->state_dir), &lab, &ready, e)) < 0)
            break;
        if (o->json)
            json_array_append_new(all, lab_json(&lab, ready, fl_cli_state_dir(o->state_dir)));
        else
            print_lab(&lab, ready, false, fl_cli_state_dir(o->state_dir));
    }
    free(names);
    if (!rc && o->json) {
        char *s = json_dumps(all, JSON_INDENT(2));

        puts(s ? s : "[]");
        free(s);
    } else if (!rc && !n) {
        printf("no labs (make one with `faultline lab up`)\n");
    }
    json_decref(all);
    return rc < 0 ? fl_cli_fail(e) : 0;
}

static int lab_exec(struct lab_opts *o, int argc, char **argv, struct fl_err *e)
{
    char name[FL_LAB_NAME_MAX + 2];
    const char *slash;
    struct fl_lab lab;
    bool ready;

    if (argc < 2 || !(slash = strchr(argv[0], '/')) || (size_t)(slash - argv[0]) >= sizeof name)
        return fl_cli_fail(&(struct fl_err){FL_EUSAGE, "usage: faultline lab exec NAME/HOST -- "
                                                       "COMMAND [ARG...] (e.g. lab/h2 -- "
                                                       "redis-server --port 6379)"});
    memcpy(name, argv[0], (size_t)(slash - argv[0]));
    name[slash - argv[0]] = '\0';
    if (fl_lab_load(name, fl_cli_state_dir(o->state_dir), &lab, &ready, e) < 0)
        return fl_cli_fail(e);
    fl_lab_exec(&lab, slash + 1, argv + 1, e);
    fl_cli_fail(e);
    return e->code == FL_ENOTARGET && strstr(e->msg, "cannot run") ? 127 : e->code;
}

int fl_cli_lab(int argc, char **argv)
{
    struct lab_opts o = {"lab", FL_LAB_DEFAULT_SUBNET, NULL, 3, false, false, false, false};
    struct fl_err e = {0};
    const char *sub = argc > 1 ? argv[1] : "";
    int r;

    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(sub, "up") && strcmp(sub, "down") && strcmp(sub, "status") && strcmp(sub, "exec")) {
        fl_err_set(&e, FL_EUSAGE, "lab: unknown subcommand '%s'; use up, down, status or exec",
                   sub);
        return fl_cli_fail(&e);
    }
    if ((r = parse_opts(argc - 1, argv + 1, !strcmp(sub, "exec"), &o, &e)) == 1) {
        usage(stdout);
        return 0;
    }
    if (r < 0)
        return fl_cli_fail(&e);
    argc -= optind + 1;
    argv += optind + 1;
    if (!strcmp(sub, "exec")) {
        if (argc > 1 && !strcmp(argv[1], "--")) { /* NAME/HOST -- CMD */
            argv[1] = argv[0];
            return lab_exec(&o, argc - 1, argv + 1, &e);
        }
        return lab_exec(&o, argc, argv, &e);
    }
    if (argc > 1 || (argc == 1 && !strcmp(sub, "up"))) {
        fl_err_set(&e, FL_EUSAGE, "lab %s: unexpected argument '%s'", sub, argv[argc - 1]);
        return fl_cli_fail(&e);
    }
    if (argc == 1) {
        o.name = argv[0];
        o.named = true;
    }
    if (!strcmp(sub, "up"))
        return lab_up(&o, &e);
    if (!strcmp(sub, "down"))
        return lab_down(&o, &e);
    return lab_status(&o, o.named, &e);
}
