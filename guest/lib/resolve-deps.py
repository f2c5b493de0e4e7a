#!/usr/bin/env python3
"""Walks `apt-cache depends --recurse` output (read on stdin) from the root packages given as
arguments and prints the chosen dependency closure, one package a line, sorted.

Rules: Depends and PreDepends are followed; in an OR group the first alternative that is not
excluded wins; a virtual package resolves to its first non-excluded provider (a real package of
that name wins over providers); a group whose every choice is excluded is dropped. Excluded
packages come from --exclude FILE (one name a line, '#' comments).
"""
import sys


def parse(lines):
    deps = {}      # package -> list of groups; group = list of alternatives
    provides = {}  # virtual name -> providers
    cur = None
    group = []
    last_virtual = None
    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if not line.startswith(" "):
            if group and cur is not None:
                deps[cur].append(group)
            group = []
            cur = line.strip().strip("<>")
            deps.setdefault(cur, [])
            last_virtual = None
            continue
        stripped = line.strip()
        if line.startswith("    ") and last_virtual is not None:
            provides.setdefault(last_virtual, []).append(stripped.split(":")[0])
            continue
        last_virtual = None
        is_or = stripped.startswith("|")
        stripped = stripped.lstrip("|")
        kind, _, name = stripped.partition(": ")
        if kind not in ("Depends", "PreDepends"):
            continue
        name = name.strip()
        virtual = name.startswith("<")
        name = name.strip("<>").split(":")[0]
        if virtual:
            last_virtual = name
        group.append(name)
        if not is_or:
            deps[cur].append(group)
            group = []
    if group and cur is not None:
        deps[cur].append(group)
    return deps, provides


def main():
    args = sys.argv[1:]
    excluded = set()
    if args[:1] == ["--exclude"]:
        with open(args[1]) as f:
            for l in f:
                l = l.split("#")[0].strip()
                if l:
                    excluded.add(l)
        args = args[2:]
    deps, provides = parse(sys.stdin)

    def choose(name):
        if name in excluded:
            return None
        if name in deps and deps[name] is not None and name not in provides:
            return name
        for p in provides.get(name, []):
            if p not in excluded:
                return p
        return name if name in deps else None

    chosen = set()
    todo = list(args)
    while todo:
        p = choose(todo.pop())
        if p is None or p in chosen:
            continue
        chosen.add(p)
        for group in deps.get(p, []):
            pick = None
            for alt in group:
                pick = choose(alt)
                if pick is not None:
                    break
            if pick is not None and pick not in chosen:
                todo.append(pick)
    missing = [a for a in args if a not in chosen]
    if missing:
        sys.stderr.write("resolve-deps: root packages unresolvable: %s\n" % " ".join(missing))
        return 1
    print("\n".join(sorted(chosen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
