"""A timing process sees the tree under test first and keeps what the caller carries on PYTHONPATH (the GPU check
installs Keras 3 and datasets with --target into a folder it puts there)."""

import os
import subprocess
import sys

from bench.timing import processes


def test_the_tree_comes_first_and_the_callers_entries_stay(tmp_path):
    carried, tree = tmp_path / "site", tmp_path / "tree"
    for folder, text in ((carried, "carried"), (tree, "tree")):
        (folder / "probe_pkg").mkdir(parents=True)
        (folder / "probe_pkg" / "__init__.py").write_text(f"WHERE = {text!r}\n")
    (carried / "only_carried.py").write_text("OK = True\n")
    env = processes.tree_first({**os.environ, "PYTHONPATH": os.pathsep.join([str(carried), str(tree)])}, tree)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tree), str(carried)]  # the tree once, and first
    done = subprocess.run([sys.executable, "-c", "import probe_pkg, only_carried; print(probe_pkg.WHERE, only_carried.OK)"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["tree", "True"], done.stderr
    assert processes.tree_first({}, tree) == {"PYTHONPATH": str(tree)}  # nothing carried: the tree alone
