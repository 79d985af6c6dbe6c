"""The layout's rules (docs/architecture.md), read from the source: bench/'s rooms import only rooms on a lower floor
(no circle, nothing upward), every judgement lives in bench/judge, and no two files have names a newcomer could
confuse."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# A room may import the rooms on lower floors only; rooms on one floor do not import each other. "(root)" is
# bench/ itself: the benchmarks, their conftest.py and the commands' old names.
FLOORS = {"judge": 0, "store": 1, "timing": 2, "history": 3, "tune": 3, "launch": 3, "report": 3, "gpu": 3,
          "session": 4, "(root)": 5}
ALIASES = {"ab", "bands", "ingest", "replay", "sensitivity", "gpu_check"}  # bench/<name>.py: an old command name
SAME_ROLE = {"cli", "__init__", "__main__"}  # each command room's command line; package files


def room_of(path: Path) -> str:
    parts = path.relative_to(BENCH).parts
    return parts[0] if len(parts) > 1 else "(root)"


def bench_imports(path: Path) -> set[str]:
    """The bench modules `path` imports, at any depth (function-level imports count: they run too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
            found |= ({f"bench.{a.name}" for a in node.names} if node.module == "bench" else {node.module})
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "bench"}
    return found


def room_edges() -> dict[tuple[str, str], list[str]]:
    """{(room, the room it imports): the files that do}."""
    edges: dict = {}
    for path in sorted(BENCH.rglob("*.py")):
        room = room_of(path)
        for module in bench_imports(path):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 and (BENCH / parts[1]).is_dir() else "(root)"
            if target != room:
                edges.setdefault((room, target), []).append(str(path.relative_to(BENCH.parent)))
    return edges


def test_every_room_has_a_floor_and_a_docstring():
    rooms = {p.name for p in BENCH.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert rooms == set(FLOORS) - {"(root)"}, "a new room needs a floor here and a line in docs/architecture.md"
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for room in rooms:
        assert ast.get_docstring(ast.parse((BENCH / room / "__init__.py").read_text())), f"bench/{room}: say its job"
        assert f"bench/{room}/" in architecture, f"docs/architecture.md does not describe bench/{room}/"


def test_no_room_imports_upward_or_sideways():
    edges = room_edges()
    wrong = [f"{room} (floor {FLOORS[room]}) imports {target} (floor {FLOORS[target]}): {', '.join(files)}"
             for (room, target), files in edges.items() if FLOORS[target] >= FLOORS[room]]
    assert not wrong, "\n".join(wrong)
    # the rules the issue names, explicitly: judge and store import no session, the report imports judge
    assert not [e for e in edges if e[0] in ("judge", "store") and e[1] == "session"]
    assert ("report", "judge") in edges and ("judge", "report") not in edges
    assert not [e for e in edges if e[0] == "judge"], "bench/judge imports no other room"


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The check above can fail: a store module importing the session is named."""
    fake = tmp_path / "bench"
    for room in set(FLOORS) - {"(root)"}:
        (fake / room).mkdir(parents=True)
        (fake / room / "__init__.py").write_text('"""x"""\n')
    (fake / "store" / "leak.py").write_text("def f():\n    from bench.session import suite\n")
    monkeypatch.setattr(sys.modules[__name__], "BENCH", fake)
    assert list(room_edges()) == [("store", "session")]
    assert FLOORS["session"] >= FLOORS["store"]  # so test_no_room_imports_upward_or_sideways names it


def test_judgements_live_in_bench_judge():
    """Every statistical decision needs scipy's distributions: outside bench/judge nothing in bench/ imports scipy,
    and the rules' old homes no longer define them."""
    outside = []
    for path in BENCH.rglob("*.py"):
        if room_of(path) == "judge":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n.split(".")[0] == "scipy" for n in names):
                outside.append(str(path.relative_to(ROOT)))
    assert not outside, f"scipy (a judgement) outside bench/judge: {outside}"
    elsewhere = [p for p in BENCH.rglob("*.py") if room_of(p) != "judge"] + list((ROOT / "finetune").rglob("*.py"))
    defined = {node.name for path in elsewhere for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.FunctionDef)}
    rules = {"learned", "stored_gate", "ab_test", "paired_test", "paired_ratio", "detect", "failures", "judge",
             "judge_quality", "band", "outside", "agreement", "shortlist", "ranked", "speed_up", "rate_spread",
             "same_versions", "judges", "baseline_nights", "lender", "claim_at"}
    judge_defines = {node.name for path in (BENCH / "judge").glob("*.py")
                     for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)}
    assert rules <= judge_defines
    # the report's speed_up and the store's lender stay as thin callers of the judge's
    callers = {"speed_up": BENCH / "report" / "steps.py", "lender": BENCH / "store" / "lending.py",
               "paired": BENCH / "timing" / "reference_revision.py"}
    for name, path in callers.items():
        assert f"{name}(" in path.read_text()
    assert not (rules - set(callers)) & defined, f"a rule defined outside bench/judge: {(rules - set(callers)) & defined}"


def test_the_judge_imports_no_framework():
    code = ("import sys, pkgutil, importlib, bench.judge as j\n"
            "for m in pkgutil.iter_modules(j.__path__): importlib.import_module('bench.judge.' + m.name)\n"
            "print(sorted(m for m in ('tensorflow', 'transformers', 'tf_keras', 'keras', 'datasets', 'jax', 'torch')"
            " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def near(a: str, b: str) -> bool:
    """Names one edit apart, or a plural of the other."""
    if a == b or a.rstrip("s") == b.rstrip("s"):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) <= 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def confusable(paths: list[Path]) -> list[str]:
    names: dict = {}
    for path in paths:
        stem = path.name if path.is_dir() else path.stem
        if stem in SAME_ROLE or (path.parent == BENCH and stem in ALIASES) or path.name.startswith("test_"):
            continue
        names.setdefault(stem, []).append(str(path.relative_to(ROOT)))
    found = [f"{k}: {v}" for k, v in names.items() if len(v) > 1]
    found += [f"{a} ~ {b}: {names[a]} {names[b]}" for a, b in itertools.combinations(sorted(names), 2) if near(a, b)]
    return found


def test_no_two_files_have_names_a_newcomer_could_confuse():
    paths = [p for p in list(BENCH.rglob("*.py")) + list((ROOT / "finetune").rglob("*.py"))
             if "__pycache__" not in p.parts]
    paths += [p for p in BENCH.iterdir() if p.is_dir() and not p.name.startswith("__")]
    assert not confusable(paths)
    assert confusable([BENCH / "block.py", BENCH / "blocks.py"])  # the check can fail
    assert confusable([ROOT / "finetune" / "options.py", BENCH / "session" / "options.py"])


def test_the_commands_keep_their_names():
    """`python -m bench.X` for every command the docs and workflows use, and the GPU check by its old path."""
    for name in ("history", "tune", "report", "launch", "ab", "sensitivity", "bands", "ingest", "replay"):
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0 and "usage" in done.stdout.lower(), (name, done.stderr[-500:])
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "wheels" in done.stdout, done.stderr[-500:]
