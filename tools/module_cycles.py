#!/usr/bin/env python3
"""Import cycles between the modules (files) of src/.

Each file is a module (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`). An edge goes from
a module to every module it names through `crate::`, `super::` or `self::` paths, in
`use` trees and inline; a path is resolved to the longest module that exists, so
`crate::web::page_error::PageError` is an edge to `web::page_error`. A parent naming its
children in `mod x;` is not an edge, nor are `#[cfg(test)]` files (`tests.rs`,
`*_tests.rs`). Prints every cycle (strongly connected component of more than one
module) and exits 1 if there is one.

    python3 tools/module_cycles.py [src]
    python3 tools/module_cycles.py --self-test   # proves it finds a cycle, and only one
"""

import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "src")


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_tests(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    # Drop `#[cfg(test)] mod tests { … }` blocks (brace matching).
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use_tree(tree: str, prefix: str = ""):
    """`a::{b, c::{d, e}}` → a::b, a::c::d, a::c::e."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace == -1:
        yield prefix + tree.split(" as ")[0].strip()
        return
    head = tree[:brace]
    body = tree[brace + 1 : tree.rfind("}")]
    depth, start = 0, 0
    for k, ch in enumerate(body + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            part = body[start:k].strip()
            start = k + 1
            if part:
                yield from expand_use_tree(part, prefix + head)


def resolve(module: tuple, is_dir_module: bool, path: str, modules: set):
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = module if is_dir_module else module[:-1]
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
        if not is_dir_module and path.startswith("self::"):
            base = module
    else:
        return None
    best = None
    for n in range(len(segs) + 1):
        candidate = base + tuple(segs[:n])
        if candidate in modules:
            best = candidate
    return best


def main() -> int:
    files = [p for p in ROOT.rglob("*.rs") if p.name != "tests.rs" and not p.name.endswith("_tests.rs")]
    modules = {module_of(p) for p in files}
    edges = {m: set() for m in modules}
    for p in files:
        m = module_of(p)
        is_dir = p.name in ("mod.rs", "lib.rs", "main.rs")
        text = strip_comments_and_tests(p.read_text())
        paths = []
        for use in re.finditer(r"\buse\s+([^;]+);", text, re.S):
            paths.extend(expand_use_tree(use.group(1).replace("\n", " ")))
        paths.extend(re.findall(r"\b(?:crate|super|self)(?:::\w+)+", text))
        for path in paths:
            target = resolve(m, is_dir, path.strip(), modules)
            # A module's ancestors are where it is declared, not what it uses.
            if target is not None and target != m and target != m[: len(target)]:
                edges[m].add(target)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
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
                sccs.append(comp)

    for v in sorted(modules):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    for comp in sorted(sccs, key=len, reverse=True):
        members = set(comp)
        print(f"cycle of {len(comp)} modules:")
        for m in sorted(comp):
            inside = sorted(name(t) for t in edges[m] if t in members)
            print(f"  {name(m)} -> {', '.join(inside)}")
    print(f"{len(modules)} modules, {sum(len(e) for e in edges.values())} imports, {len(sccs)} cycles")
    return 1 if sccs else 0


def self_test() -> int:
    """A tree with one cycle (a -> b::c -> a, through a grouped `use` and an inline
    path), a parent naming its child, and a test module importing back: one cycle."""
    import contextlib
    import io
    import tempfile

    global ROOT
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "src"
        (root / "b").mkdir(parents=True)
        (root / "lib.rs").write_text("pub mod a;\npub mod b;\n")
        (root / "a.rs").write_text("use crate::{b::{c::Thing, self}};\n")
        (root / "b" / "mod.rs").write_text("pub mod c;\n")
        (root / "b" / "c.rs").write_text(
            "pub struct Thing;\nfn f() { crate::a::g(); }\n#[cfg(test)]\nmod tests {\n    use crate::b;\n}\n"
        )
        ROOT = root
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            found = main()
        text = out.getvalue()
        ok = found == 1 and "cycle of 2 modules" in text and "1 cycles" in text
        (root / "b" / "c.rs").write_text("pub struct Thing;\n")
        with contextlib.redirect_stdout(io.StringIO()):
            clean = main()
        ok = ok and clean == 0
    print("self-test:", "ok" if ok else "FAILED\n" + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv else main())
