#!/usr/bin/env python3
"""check-layout.py - keep the house's rooms apart.

    scripts/check-layout.py BUILD_DIR

Fails (exit 1) when
  - files of libmsb/, guest/ or vmm/ call each other in a loop: A.c uses
    a symbol that B.c defines and B.c, directly or through others, one
    that A.c defines (read from the objects' symbol tables with nm, so it
    sees calls, not includes);
  - a source file in libmsb/, guest/, vmm/, common/, cli/ or
    bindings/*/src is over 900 lines without saying, in its opening
    comment, that it is one cohesive thing ("cohesive") or generated;
  - msb-agent's sources include the client ABI (msb.h): the agent speaks
    the protocol (common/), never the ABI.
"""
import glob
import os
import re
import subprocess
import sys

LIMIT = 900
ROOMS = {  # room -> the object directory, under BUILD_DIR
    "libmsb": "obj/lib/libmsb",
    "guest": "obj/agent/guest",
    "vmm": "obj/vmm/vmm",
}
SOURCES = ["libmsb/*.[ch]", "guest/*.[ch]", "vmm/*.[ch]", "common/*.[ch]",
           "cli/*.[ch]", "bindings/node/src/*.[ch]", "bindings/go/*.go",
           "bindings/rust/*/src/*.rs"]


def symbols(obj):
    """(defined, undefined) global symbols of one object file."""
    out = subprocess.run(["nm", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRCVW":
            defined.add(parts[2])
    return defined, undefined


def cycles(graph):
    """The strongly connected components with more than one node
    (Tarjan's algorithm)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check-layout.py BUILD_DIR")
    build = sys.argv[1]
    failed = 0

    for room, objdir in ROOMS.items():
        objs = sorted(glob.glob(os.path.join(build, objdir, "*.o")))
        # objects whose source is gone (a file that moved) do not count
        objs = [o for o in objs
                if os.path.exists(os.path.join(room, os.path.basename(o)[:-2] + ".c"))]
        if not objs:
            print(f"not ok - {room}: no objects in {build}/{objdir} (build first)")
            failed = 1
            continue
        syms = {os.path.basename(o)[:-2] + ".c": symbols(o) for o in objs}
        owner = {}
        for f, (defined, _) in syms.items():
            for s in defined:
                owner[s] = f
        graph = {f: {owner[s] for s in und if s in owner and owner[s] != f}
                 for f, (_, und) in syms.items()}
        loops = cycles(graph)
        if loops:
            failed = 1
            for comp in loops:
                print(f"not ok - {room}: these files call each other in a loop: "
                      + ", ".join(comp))
        else:
            print(f"ok - {room}: no calls in a loop among {len(objs)} files")

    too_long = 0
    for pattern in SOURCES:
        for path in sorted(glob.glob(pattern)):
            if path.endswith("_test.go"):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            n = text.count("\n")
            head = text[:1500].lower()
            if n > LIMIT and "cohesive" not in head and "generated" not in head:
                failed = too_long = 1
                print(f"not ok - {path}: {n} lines; split it by concern, or say in "
                      "its opening comment why it is one cohesive thing")
    if not too_long:
        print("ok - source files: none over %d lines without a reason" % LIMIT)

    for path in sorted(glob.glob("guest/*.[ch]")):
        with open(path, encoding="utf-8") as f:
            if re.search(r'^\s*#\s*include\s*[<"]msb\.h[>"]', f.read(), re.M):
                failed = 1
                print(f"not ok - {path} includes msb.h: the agent speaks common/wire.h")
    sys.exit(failed)


if __name__ == "__main__":
    main()
