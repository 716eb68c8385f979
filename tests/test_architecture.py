"""The package's shape: the library never imports the CLI, and modules import each other without cycles.

Every import is counted, the lazy ones inside functions included (a lazy import hides a cycle, it does not
remove it). Package ``__init__`` files are left out: they only re-export.
"""

import ast
from pathlib import Path

import musicneurons

PKG = Path(musicneurons.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of this package that ``path`` imports anywhere in its body."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("musicneurons"):
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` imports a module x
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("musicneurons"))
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        if path.name == "__init__.py":
            continue
        deps = set()
        for mod in _imports(path):
            while mod and mod not in files:
                mod = mod.rsplit(".", 1)[0] if "." in mod else ""
            if mod and mod != name and files[mod].name != "__init__.py":
                deps.add(mod)
        graph[name] = deps
    return graph


def _is_cli(mod: str) -> bool:
    return mod == "musicneurons.cli" or mod.startswith("musicneurons.cli.")


def test_library_never_imports_the_cli():
    # the CLI is a package: its __init__ (left out of the graph) re-exports, so look at the raw imports of every
    # module outside it, package __init__ files included
    offenders = sorted(_module_name(p) for p in PKG.rglob("*.py")
                       if not _is_cli(_module_name(p)) and _module_name(p) != "musicneurons.__main__"
                       and any(_is_cli(m) for m in _imports(p)))
    assert offenders == [], f"library modules importing the CLI: {offenders}"


def test_the_cli_is_a_package_of_modules():
    # the checker sees the CLI's own modules (so a library import of any of them would be caught above)
    g = _graph()
    assert {"musicneurons.cli.parser", "musicneurons.cli.errors", "musicneurons.cli.run"} <= set(g)
    assert "musicneurons.cli.printing" in g["musicneurons.cli.run"]


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == "open":
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_graph_sees_lazy_imports():
    # the checker itself: pipeline imports the model lazily (inside a method) and the corpus module
    g = _graph()
    assert "musicneurons.model.checkpoint" in g["musicneurons.pipeline"]
    assert "musicneurons.corpus" in g["musicneurons.pipeline"]
