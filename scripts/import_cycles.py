#!/usr/bin/env python3
"""Import circles between the files of src/: prints each strongly connected group of files
that import each other (directly or through others) and exits 1 when there is one. Also exits 1
when a file imports a capability's `api.rs` (its SQL surface) other than lib.rs, which wires
them: shared types and helpers live in modules the others import.

A file imports another when it names a path into it: `use crate::a::b::...`, `use super::x`,
`crate::a::b::f(...)` or `super::x::f(...)` in code, resolved to the file that defines the
module (a/b.rs or a/b/mod.rs). Tests (`#[cfg(test)]` modules, src/pg_tests*) are left out.

    python3 scripts/import_cycles.py [src]
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "src")
SRC = os.path.normpath(SRC)


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def file_of(parts):
    """The file defining the longest prefix of module path `parts`."""
    for n in range(len(parts), 0, -1):
        base = os.path.join(SRC, *parts[:n])
        for cand in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.isfile(cand):
                return cand
    return None


def code_of(text):
    # drop #[cfg(test)] modules (from the attribute to the end of the file: they come last)
    i = text.find("#[cfg(test)]")
    if i >= 0:
        text = text[:i]
    return re.sub(r"//[^\n]*", "", text)


PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)


def edges(path):
    me = module_of(path)
    text = code_of(open(path).read())
    paths = []
    for m in GROUP.finditer(text):
        head, mid = m.group(1), m.group(2)
        for item in re.split(r",", m.group(3)):
            item = item.strip().split(" as ")[0].strip()
            first = re.match(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*", item)
            if first:
                paths.append((head, mid.strip(":").split("::") + first.group(0).split("::") if mid else first.group(0).split("::")))
    for m in PATH.finditer(text):
        paths.append((m.group(1), m.group(2).strip(":").split("::")))
    out = set()
    for head, parts in paths:
        parts = [p for p in parts if p and p != "self"]
        # `super` of a/b.rs (module a::b) and of a/b/mod.rs (module a::b) is module a
        base = [] if head == "crate" else me[:-1]
        f = file_of(base + parts)
        if f and os.path.normpath(f) != os.path.normpath(path):
            out.add(os.path.normpath(f))
    return out


def main():
    files = []
    for d, _, names in os.walk(SRC):
        for n in names:
            p = os.path.normpath(os.path.join(d, n))
            if n.endswith(".rs") and "pg_tests" not in p:
                files.append(p)
    graph = {f: edges(f) for f in files}
    index, low, stack, on, groups, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            g = []
            while True:
                w = stack.pop()
                on.discard(w)
                g.append(w)
                if w == v:
                    break
            if len(g) > 1:
                groups.append(sorted(os.path.relpath(x, SRC) for x in g))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    for g in groups:
        print(f"circle of {len(g)} files: " + " <-> ".join(g))
    into_api = sorted(
        (os.path.relpath(f, SRC), os.path.relpath(t, SRC))
        for f, ts in graph.items()
        for t in ts
        if os.path.basename(t) == "api.rs" and os.path.relpath(f, SRC) != "lib.rs"
    )
    for f, t in into_api:
        print(f"{f} imports {t}, a SQL surface")
    if groups or into_api:
        sys.exit(1)
    print(f"no import circle among {len(files)} files of {os.path.relpath(SRC)}, and no api.rs imported")


main()
