/* A small YAML tree with source positions, built from libyaml's event
 * stream. The experiment loader needs the line and column of every node
 * (mappings and sequences included) to point its errors at the file, and a
 * tree it fully owns: no anchors/aliases (refused), no tags, bounded depth
 * and size, so a hostile file cannot blow up memory. Scalars may use
 * ${NAME} / ${NAME:-default} environment substitution; $$ is a literal $. */
#ifndef FL_SPEC_YAML_H
#define FL_SPEC_YAML_H

#include <stdbool.h>
#include <stddef.h>

enum fl_ynode_type { FL_YSCALAR, FL_YMAP, FL_YSEQ };

struct fl_ynode {
    enum fl_ynode_type type;
    int line, col;          /* 1-based, where the node starts */
    char *str;              /* FL_YSCALAR: text after substitution */
    bool plain;             /* FL_YSCALAR: unquoted (so "~"/"null" mean null) */
    char *unset_env;        /* FL_YSCALAR, lenient parse: the first ${NAME} that was not
                               set (left empty), or NULL */
    size_t n;               /* FL_YMAP: pairs; FL_YSEQ: items */
    struct fl_ynode **kids; /* FL_YMAP: key0, value0, key1, ...; FL_YSEQ: items */
};

#define FL_YAML_MAX_DEPTH 32
#define FL_YAML_MAX_NODES 20000

/* How ${NAME} is read: not at all, an unset NAME without a default is an
 * error, or (lenient: for reading commands such as validate, which must not
 * need a run's secrets) it is left empty and named in the node's
 * unset_env. */
enum fl_yaml_env { FL_YAML_ENV_OFF, FL_YAML_ENV_STRICT, FL_YAML_ENV_LENIENT };

/* Parse one YAML document from `text` (len bytes). On failure returns NULL
 * and writes "line:col: message" into err. */
struct fl_ynode *fl_yaml_parse(const char *text, size_t len, enum fl_yaml_env env, char *err,
                               size_t errlen);
void fl_yaml_free(struct fl_ynode *n);

/* Mapping helpers: the value under key (NULL when absent), the key node. */
struct fl_ynode *fl_yaml_get(const struct fl_ynode *map, const char *key);
/* True for an empty plain scalar, "~", "null" or "Null"/"NULL". */
bool fl_yaml_is_null(const struct fl_ynode *n);
const char *fl_yaml_type_name(const struct fl_ynode *n);

#endif
