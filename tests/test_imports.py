"""The package's import graph: no cycles, and the library never imports the command-line layer (``nnssl/cli``).

Walks every ``import`` of every module under ``nnssl/`` (top-level and inside functions alike), so a lazy import
that closes a cycle counts as much as a top-level one.
"""

import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "nnssl")
def import_graph() -> dict[str, set[str]]:
    modules = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
                modules[rel.removesuffix(".__init__")] = os.path.join(folder, f)
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_known_edges():
    graph = import_graph()
    assert "nnssl.pretrain_options" in graph["nnssl.cli.pretrain"]
    assert "nnssl.trainers.finetune_variants" in graph["nnssl.methods.registry"]  # a lazy import inside a function
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]


def test_no_import_cycles_and_the_library_does_not_import_the_cli():
    graph = import_graph()
    assert cycles(graph) == []
    into_cli = {m: sorted(t for t in ts if t.startswith("nnssl.cli")) for m, ts in graph.items()
                if not m.startswith("nnssl.cli")}
    assert {m: ts for m, ts in into_cli.items() if ts} == {}
