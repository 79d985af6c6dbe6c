"""tests/rehearse_workflow.py, the nightly workflows' shell rehearsed on this machine: expressions, conditions, step
outputs, caches and artifacts on a toy workflow, and every expression of the real workflows readable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import rehearse_workflow as rw

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

TOY = """
name: toy
jobs:
  bench:
    runs-on: [self-hosted, gpu]
    env:
      EXTRAS: report,site,gpu
    steps:
      - name: fingerprint
        id: machine
        run: echo "fingerprint=cpu-x-$EXTRAS" >> "$GITHUB_OUTPUT"
      - name: restore
        uses: actions/cache/restore@v4
        with:
          path: history
          key: history-${{ steps.machine.outputs.fingerprint }}-${{ github.run_id }}
          restore-keys: history-${{ steps.machine.outputs.fingerprint }}-
      - name: night
        env:
          REF: ${{ vars.REF }}
        run: |
          mkdir -p history && echo "night ${{ github.run_id }} ref=$REF tier full" >> history/nights.txt
          test "$FAIL" != 1
      - name: after a failure, not run
        run: echo ran > after.txt
      - name: keep
        if: always()
        uses: actions/cache/save@v4
        with:
          path: history
          key: history-${{ steps.machine.outputs.fingerprint }}-${{ github.run_id }}
      - name: upload
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: night-${{ steps.machine.outputs.fingerprint }}
          path: |
            history/
            out/
          if-no-files-found: warn
      - name: pages only
        if: always() && vars.PUBLISH_PAGES == 'true'
        run: echo published > published.txt
  pages:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/deploy-pages@v4
"""


def rehearse(tmp_path, run_id, *more):
    workflow = tmp_path / "toy.yml"
    workflow.write_text(TOY)
    (tmp_path / "work" / "repo").mkdir(parents=True, exist_ok=True)  # the toy has no checkout: its repo is made here
    return subprocess.run([sys.executable, str(ROOT / "tests" / "rehearse_workflow.py"), str(workflow), "--work",
                           str(tmp_path / "work"), "--run-id", run_id, "--var", "REF=v1", "--replace",
                           "tier full=tier ci", *more], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_outputs_expressions_env_and_replacements_reach_the_steps_and_the_cache_carries_the_history(tmp_path):
    first = rehearse(tmp_path, "1", "--env", "EXTRAS=report,site")
    assert first.returncode == 0, first.stdout + first.stderr
    repo = tmp_path / "work" / "repo"
    # the step's output (made with the overridden env: the GPU's extras left out) named the cache and the artifact
    assert (tmp_path / "work" / "cache" / "history-cpu-x-report,site-1").is_dir()
    assert (tmp_path / "work" / "artifacts" / "night-cpu-x-report,site" / "history" / "nights.txt").exists()
    assert "warning: no files at out/" in first.stdout
    assert (repo / "history" / "nights.txt").read_text() == "night 1 ref=v1 tier ci\n"  # replaced before it ran
    assert "nothing to restore (a first night)" in first.stdout
    assert not (repo / "published.txt").exists() and "skipped (if: always() && vars.PUBLISH_PAGES" in first.stdout
    assert "job pages: skipped: it runs on GitHub's ubuntu-latest" in first.stdout
    # a second night, from a fresh repo: the history comes back from the first night's cache by its prefix
    (repo / "history" / "nights.txt").unlink()
    second = rehearse(tmp_path, "2", "--env", "EXTRAS=report,site", "--var", "PUBLISH_PAGES=true")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "cache: restored history-cpu-x-report,site-1" in second.stdout
    assert (repo / "history" / "nights.txt").read_text().count("night ") == 1 + 1
    assert (repo / "published.txt").exists()


def test_a_failed_step_is_named_the_plain_steps_after_it_skip_and_the_always_ones_run(tmp_path):
    workflow = TOY.replace('test "$FAIL" != 1', "exit 3")
    (tmp_path / "toy.yml").write_text(workflow)
    (tmp_path / "work" / "repo").mkdir(parents=True)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "rehearse_workflow.py"), str(tmp_path / "toy.yml"),
                           "--work", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert re.search(r"step 3 night\n    FAILED: exit status 3 ", done.stdout), done.stdout
    assert "step 4 after a failure, not run: skipped (if: an earlier step failed)" in done.stdout
    assert not (tmp_path / "work" / "repo" / "after.txt").exists()
    assert (tmp_path / "work" / "cache" / "history-cpu-x-report,site,gpu-1").is_dir()  # if: always() still ran
    assert done.stdout.strip().endswith("a step FAILED")


def test_an_expression_it_cannot_read_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "bad.yml").write_text(TOY.replace("${{ vars.REF }}", "${{ secrets.TOKEN }}"))
    (tmp_path / "work" / "repo").mkdir(parents=True)
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "rehearse_workflow.py"), str(tmp_path / "bad.yml"),
                           "--work", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "rehearse_workflow: the expression names 'secrets.TOKEN', which this rehearsal cannot give a value: add it "
        "to tests/rehearse_workflow.py's Context.value"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_every_expression_and_condition_of_the_real_workflows_is_one_the_rehearsal_reads(workflow):
    """So that a rehearsal of either nightly cannot stop on an expression, and a typo in one (an output that no step
    writes, an unknown function) is caught here, not on a runner."""
    context = rw.Context({"PUBLISH_PAGES": "true", "FINETUNE_REFERENCE": ""}, outputs={"machine": {"fingerprint": "f"}})
    document = yaml.safe_load(workflow.read_text())
    ids = set()
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            for text in re.findall(r"\$\{\{\s*(.*?)\s*\}\}", yaml.safe_dump(step)):
                for name in re.findall(r"steps\.([\w-]+)\.outputs", text):
                    assert name in ids | {"deployment"}, f"{workflow.name}: {text} reads a step that has not run"
                context.evaluate(text)
            if "if" in step:
                assert isinstance(context.runs(step), bool)
            ids.add(step.get("id"))
            for script in re.findall(r"(\.ci/[\w-]+)", step.get("run", "")):
                assert (ROOT / script).exists(), f"{workflow.name} runs {script}, which is not in the repository"
            for module in re.findall(r"-m (bench(?:\.\w+)+)", step.get("run", "")):
                assert (ROOT / module.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT / module.replace(".", "/") / "__main__.py").exists(), f"{workflow.name} runs -m {module}"
