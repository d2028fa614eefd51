#!/usr/bin/env python3
"""Write cases.json: 3600 random flow scalars (plain, single- and
double-quoted; folds, CR/LF breaks, escapes, blanks) as an experiment's title,
each with the text PyYAML's pure-Python SafeLoader reads for it. The unit
test tests/unit/test_spec.c (scalars_read_as_pyyaml_reads_them) loads each
one through faultline's loader and compares. Run again only to change the
cases: `python3 tests/data/spec/scalars/generate.py` (fixed seed)."""
import json
import os
import random
import sys

import yaml

REST = ("steady_state:\n  probes: [{name: p, type: command, command: 'true'}]\n"
        "method:\n  - {kind: process.pause, pid: 1, duration: 1s}\n")
BREAKS = ["\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\n  \n"]


def piece(rng, style):
    r = rng.random()
    if r < 0.45:
        return rng.choice(["a", "b", "word", "x1", "é", "ü", "-", ".", ",", "/"])
    if r < 0.60:
        return rng.choice([" ", "  ", "\t", " \t "])
    if r < 0.75:
        return rng.choice(BREAKS) + rng.choice(["  ", "   ", "  \t", " \t "])
    if style == "'":
        return rng.choice(["''", "\"", "\\", "#"])
    if style == '"':
        return rng.choice(["\\t", "\\n", "\\\\", "\\\"", "\\x41", "\\u00e9", "\\U0001F600",
                           "\\ ", "\\/", "\\_", "\\N", "\\L", "\\e", "'",
                           "\\" + rng.choice(BREAKS) + "  "])
    return rng.choice(["'", "x#y", "a-b", "k:v"])


def scalar(rng, style):
    body = "".join(piece(rng, style) for _ in range(rng.randint(1, 12)))
    if style == "":  # a plain scalar starts and ends with a word
        return "p" + body + "q"
    return style + body + style


def main():
    rng = random.Random(20261201)
    cases = []
    while len(cases) < 3600:
        style = rng.choice(["", "'", '"'])
        text = scalar(rng, style)
        try:
            doc = yaml.load("title: " + text + "\n" + REST, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            continue
        title = doc.get("title") if isinstance(doc, dict) else None
        if not isinstance(title, str) or not title or "\0" in title or len(doc) != 3:
            continue
        cases.append([text, title])
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json")
    with open(out, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    print(f"{out}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
