"""The direction of imports between the parts, read from the source (every import, local ones
too): each package docstring states its rule, this holds the code to it, and no module reaches
itself through others."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = ("models", "render_service", "sdpo_jax")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, as absolute names: `from a import b` is `a.b` where that is a
    module of the project, else `a` (a name defined in `a`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in FILES else node.module)
    return found


GRAPH = {module: imports_of(path) for module, path in FILES.items()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# (importing part, parts it must never import)
RULES = [
    ("render_service", ["sdpo_jax", "models", "jax", "flax"]),
    ("models", ["sdpo_jax", "render_service"]),
    ("sdpo_jax.method", ["sdpo_jax.loop", "sdpo_jax.warmstart", "sdpo_jax.commands",
                         "sdpo_jax.runtime", "sdpo_jax.hosts"]),
    ("sdpo_jax.data", ["sdpo_jax.method", "sdpo_jax.loop", "sdpo_jax.warmstart",
                       "sdpo_jax.commands", "sdpo_jax.runtime"]),
    ("sdpo_jax.loop", ["sdpo_jax.warmstart", "sdpo_jax.commands"]),
    ("sdpo_jax.warmstart", ["sdpo_jax.commands"]),
    ("sdpo_jax.config", ["sdpo_jax.loop", "sdpo_jax.warmstart", "sdpo_jax.commands"]),
]  # fmt: skip


@pytest.mark.parametrize(("part", "never"), RULES, ids=[part for part, _ in RULES])
def test_each_part_imports_only_what_its_rule_allows(part, never):
    broken = sorted(
        f"{module} imports {name}"
        for module, names in GRAPH.items()
        if within(module, part) and not module.endswith("__main__")  # old paths' aliases
        for name in names
        if any(within(name, banned) for banned in never)
    )
    assert not broken, "\n".join(broken)


def test_no_module_imports_itself_through_others():
    """Depth-first over the project's modules; a back edge is a cycle."""
    edges = {
        module: {target for target in names if target in GRAPH and target != module}
        for module, names in GRAPH.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_rules_see_the_code():
    """The graph holds the modules it should, so a rule cannot pass by reading nothing."""
    assert "sdpo_jax.method.objectives" in GRAPH["sdpo_jax.loop.train_step"]
    assert "sdpo_jax.loop.train_step" in GRAPH["sdpo_jax.warmstart.sft"]
    assert len([m for m in GRAPH if within(m, "sdpo_jax.commands")]) >= 8
