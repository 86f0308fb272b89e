"""The dependency direction of DESIGN.md, checked on the source with ``ast``:

    cli/commands, web -> applications, evaluation, training -> checkpoint -> core, config, data

applications and evaluation never import training; evaluation never imports applications; the core
imports no data, training or application code; data imports no model code; nothing below the
command line imports it or the web page; and no two modules import each other.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vaekit"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (imports for type hints only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def imports(path: Path) -> set[str]:
    """Every vaekit module a file imports at run time, at the top or inside a function."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("vaekit")}


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {name: {m for m in imports(path) if m in MODULES} for name, path in MODULES.items()}


def layer(name: str) -> str:
    return name.split(".")[1] if "." in name else name


FORBIDDEN = {  # package -> packages it must not import
    "core": ("training", "applications", "evaluation", "commands", "cli", "web", "data", "checkpoint", "sklearn"),
    "data": ("core", "training", "applications", "evaluation", "commands", "cli", "web", "checkpoint"),
    "evaluation": ("training", "applications", "commands", "cli", "web"),
    "applications": ("training", "commands", "cli", "web"),
    "training": ("applications", "commands", "cli", "web"),
    "checkpoint": ("training", "applications", "evaluation", "commands", "cli", "web"),
    "runs": ("training", "applications", "evaluation", "commands", "cli", "web", "core"),
    "registry": ("core", "training", "applications", "evaluation", "commands", "cli", "web", "data", "config"),
    "sklearn": ("commands", "cli", "web"),
    "web": ("training", "commands", "cli"),
}


def test_every_package_imports_only_what_lies_below_it():
    bad = []
    for name, deps in GRAPH.items():
        for dep in deps:
            if layer(dep) in FORBIDDEN.get(layer(name), ()):
                bad.append(f"{name} -> {dep}")
    assert not bad, bad


def test_nothing_outside_the_command_line_imports_it():
    for name, deps in GRAPH.items():
        if layer(name) not in ("cli", "commands", "__main__"):
            assert not {d for d in deps if layer(d) in ("cli", "commands")}, name


def test_no_two_modules_import_each_other():
    pairs = sorted({tuple(sorted((a, b))) for a, deps in GRAPH.items() for b in deps if a != b and a in GRAPH.get(b, set())})
    # a package's __init__ may re-export its own modules, which import the package's base classes
    pairs = [(a, b) for a, b in pairs if not (b.startswith(a + ".") or a.startswith(b + "."))]
    assert not pairs, pairs


def test_command_modules_import_nothing_heavy_at_module_level():
    """``vaekit --help`` builds every subcommand's parser: their modules import torch only inside handlers."""
    light = ("vaekit.errors", "vaekit.registry", "vaekit.commands")
    for path in sorted((SRC / "commands").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in getattr(node, "names", [])]
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in names:
                    assert (
                        name == "__future__"
                        or "." not in name
                        and not name.startswith(("torch", "numpy"))
                        or name.startswith(light)
                    ), (path.name, name)
