/* faultline validate FILE...: load each experiment file and report every
 * problem as FILE:LINE:COL: message. Exit 0 when all are valid, 2 if not. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "spec/spec.h"
#include "util/err.h"

int fl_cli_validate(int argc, char **argv)
{
    int bad = 0, files = 0;

    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: faultline validate FILE.yaml...\n\n"
                   "Check experiment files without touching anything: YAML syntax, keys,\n"
                   "fault and probe options (parsed exactly like `faultline inject`),\n"
                   "references between targets, probes and guardrails, and timing.\n"
                   "Errors are printed as FILE:LINE:COL: message. Exit 0 valid, 2 invalid.\n"
                   "Warnings (FILE:LINE:COL: warning: ...) do not make a file invalid; e.g.\n"
                   "a tcp probe without send:/expect: cannot see a process.pause, or an\n"
                   "environment variable ${NAME} that is not set (the run will need it; the\n"
                   "value that holds it is not checked).\n"
                   "Schema: docs/experiments.md\n");
            return 0;
        }
    for (int i = 1; i < argc; i++) {
        struct fl_spec_errors errs = {0};
        struct fl_spec *s;

        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr,
                    "faultline: error: validate takes no option %s; run `faultline "
                    "validate --help`\n",
                    argv[i]);
            return FL_EUSAGE;
        }
        files++;
        s = fl_spec_load_file_ex(argv[i], FL_SPEC_UNSET_ENV_OK, &errs);
        for (size_t k = 0; s && k < s->nwarnings; k++)
            fprintf(stderr, "%s\n", s->warnings[k]);
        if (s) {
            printf("%s: ok: \"%s\", %zu probe(s), %zu step(s), %zu guardrail(s)\n", argv[i],
                   s->title, s->nprobes, s->nactions, s->nguardrails);
        } else {
            for (size_t k = 0; k < errs.n; k++)
                fprintf(stderr, "%s\n", errs.msg[k]);
            bad++;
        }
        fl_spec_errors_fini(&errs);
        fl_spec_free(s);
    }
    if (!files) {
        fprintf(stderr, "usage: faultline validate FILE.yaml...\n");
        return FL_EUSAGE;
    }
    return bad ? FL_EUSAGE : 0;
}
