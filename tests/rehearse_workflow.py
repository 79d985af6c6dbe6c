"""A GitHub Actions workflow's job, rehearsed step by step on this machine: its shell proven before a runner pays
for it (issue 44: nightly-gpu.yml's steps run once on a CPU, the GPU parts skipped).

    .venv/bin/python tests/rehearse_workflow.py .github/workflows/nightly-gpu.yml --work /tmp/rehearsal \\
        --env FINETUNE_EXTRAS=report,site --replace "--tier full=--tier ci --model tiny" --var PUBLISH_PAGES=true

What each kind of step becomes here:
- `uses: actions/checkout`: a full clone of this repository's HEAD (the workflows' fetch-depth 0) into WORK/repo
  (with `clean: false` and a clone there already, that clone moved to HEAD, its .venv/ kept: a second night);
- `run:`: its text, each `${{ }}` expression replaced by its value, in `bash -e` (GitHub's shell for `run` where
  none is named), with the job's and the step's `env`, GITHUB_OUTPUT, GITHUB_ENV and GITHUB_WORKSPACE;
  `--replace OLD=NEW` edits the text first (the GPU's full tier, hours on a CPU, becomes a short one);
  `--env NAME=VALUE` overrides the job's env (the GPU's CUDA wheels left out: `FINETUNE_EXTRAS` without `gpu`);
- `actions/cache/restore` and `save`: a folder per key under WORK/cache, restored by exact key or newest prefix;
- `actions/upload-artifact` and `upload-pages-artifact`: the paths copied under WORK/artifacts/NAME; a missing
  path is a failure where the step says `if-no-files-found: error`, a warning otherwise;
- anything else (`actions/deploy-pages`, a job on GitHub's own runners): skipped, and the line says why.
A step's `if:` is evaluated (always(), success(), failure(), vars, steps' outputs, ==, !=, &&, ||, !); a step
without one runs only while every step before it succeeded, as on a runner.

Exit status: 0 every step that ran succeeded; 1 a step failed (named with its exit status and the last lines of
its output); 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TOKEN = re.compile(r"\s*(&&|\|\||==|!=|!|\(|\)|'[^']*'|[A-Za-z_][\w.-]*\(\)|[A-Za-z_][\w.-]*|\d+)")


class BadInput(Exception):
    """One line naming what is wrong with the workflow or the arguments, and the fix."""


@dataclass
class Context:
    """What `${{ }}` expressions read: the repository's variables, the steps' outputs, the run's identity."""

    variables: dict
    run_id: str = "1"
    repository: str = "rehearsal/finetune-keras-bench"
    outputs: dict = field(default_factory=dict)  # step id -> {name: value}
    failed: bool = False

    def value(self, name: str) -> str:
        """The value of a dotted name (vars.X, steps.ID.outputs.X, github.run_id, ...): '' where unset, as on GitHub."""
        parts = name.split(".")
        if parts[0] == "vars":
            return self.variables.get(parts[1], "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.outputs.get(parts[1], {}).get(parts[3], "")
        if parts[0] == "github":
            return {"run_id": self.run_id, "run_attempt": "1", "repository": self.repository}.get(parts[1], "")
        if parts[0] == "needs":
            return "success"
        raise BadInput(f"the expression names {name!r}, which this rehearsal cannot give a value: add it to "
                       "tests/rehearse_workflow.py's Context.value")

    def evaluate(self, expression: str):
        """An `if:` or `${{ }}` expression: its value (a string, or a boolean for a condition)."""
        tokens, position = [], 0
        while position < len(expression.rstrip()):
            match = TOKEN.match(expression, position)
            if not match:
                raise BadInput(f"cannot read the expression {expression!r} at {expression[position:]!r}")
            tokens.append(match.group(1))
            position = match.end()
        python = []
        for token in tokens:
            if token in ("&&", "||", "!"):
                python.append({"&&": " and ", "||": " or ", "!": " not "}[token])
            elif token in ("==", "!=", "(", ")"):
                python.append(f" {token} ")
            elif token.startswith("'"):
                python.append(repr(token[1:-1]))
            elif token.endswith("()"):
                status = {"always()": True, "success()": not self.failed, "failure()": self.failed,
                          "cancelled()": False}
                if token not in status:
                    raise BadInput(f"the expression calls {token}, which this rehearsal does not know")
                python.append(repr(status[token]))
            elif token.isdigit():
                python.append(token)
            elif token in ("true", "false"):
                python.append(repr(token == "true"))
            else:
                python.append(repr(self.value(token)))
        return eval("".join(python), {"__builtins__": {}}, {})  # noqa: S307: tokens above, nothing else

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: str(self.evaluate(m.group(1))), text)

    def runs(self, step: dict) -> bool:
        condition = step.get("if")
        if condition is None:
            return not self.failed
        condition = EXPRESSION.sub(lambda m: m.group(1), str(condition))
        uses_status = any(f in condition for f in ("always()", "success()", "failure()", "cancelled()"))
        return bool(self.evaluate(condition)) and (uses_status or not self.failed)


@dataclass
class Rehearsal:
    work: Path
    context: Context
    env_overrides: dict
    replacements: list
    log: list = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return self.work / "repo"

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    def checkout(self, step: dict) -> None:
        """A full clone of this repository's HEAD; with `clean: false` over an earlier night's clone, that clone
        moved to HEAD with its ignored files kept (.venv/), as the action leaves a self-hosted runner's."""
        if self.repo.exists() and (step.get("with") or {}).get("clean") is False and (self.repo / ".git").exists():
            subprocess.run(["git", "-C", str(self.repo), "fetch", "-q", str(ROOT), "HEAD"], check=True)
            subprocess.run(["git", "-C", str(self.repo), "checkout", "-q", "-f", "FETCH_HEAD"], check=True)
            self.say("    checkout: the earlier clone moved to HEAD, its ignored files kept (clean: false)")
            return
        if self.repo.exists():
            shutil.rmtree(self.repo)
        subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(self.repo)], check=True)

    def cache(self, step: dict, action: str) -> None:
        inputs = {k: self.context.substitute(str(v)) for k, v in (step.get("with") or {}).items()}
        store = self.work / "cache"
        target = self.repo / inputs["path"]
        if action == "save":
            shutil.rmtree(store / inputs["key"], ignore_errors=True)
            if target.exists():
                shutil.copytree(target, store / inputs["key"])
            return
        restore_keys = [k.strip() for k in inputs.get("restore-keys", "").splitlines() if k.strip()]
        found = store / inputs["key"] if (store / inputs["key"]).exists() else None
        for prefix in restore_keys if found is None else ():
            matches = sorted((p for p in store.glob(f"{prefix}*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
            if matches:
                found = matches[-1]
                break
        if found is not None:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(found, target)
        self.say(f"    cache: {'restored ' + found.name if found else 'nothing to restore (a first night)'}")

    def upload(self, step: dict) -> None:
        inputs = {k: self.context.substitute(str(v)) for k, v in (step.get("with") or {}).items()}
        name = inputs.get("name", "github-pages")
        paths = [p.strip() for p in inputs["path"].splitlines() if p.strip()]
        missing = [p for p in paths if not (self.repo / p).exists()]
        if (missing and inputs.get("if-no-files-found", "warn") == "error") or len(missing) == len(paths):
            raise StepFailed(f"nothing to upload at {', '.join(missing)}")
        for p in paths:
            if (self.repo / p).exists():
                shutil.copytree(self.repo / p, self.work / "artifacts" / name / p, dirs_exist_ok=True)
        if missing:
            self.say(f"    warning: no files at {', '.join(missing)}")
        files = sum(1 for p in (self.work / "artifacts" / name).rglob("*") if p.is_file())
        self.say(f"    artifact {name}: {files} file(s)")

    def run(self, step: dict, job_env: dict, number: int = 0) -> None:
        text = step["run"]
        for old, new in self.replacements:
            text = text.replace(old, new)
        text = self.context.substitute(text)
        outputs, env_file = self.work / "github_output", self.work / "github_env"
        outputs.write_text("")
        env_file.touch()
        env = {**os.environ, **job_env,
               **{k: self.context.substitute(str(v)) for k, v in (step.get("env") or {}).items()},
               **self.env_overrides, "GITHUB_OUTPUT": str(outputs), "GITHUB_ENV": str(env_file),
               "GITHUB_WORKSPACE": str(self.repo), "CI": "true", "GITHUB_ACTIONS": "true"}
        env.update(read_pairs(env_file))
        log = self.work / "logs" / f"step-{number:02d}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as sink:
            done = subprocess.run(["bash", "-e", "-c", text], cwd=self.repo, env=env, stdout=sink,
                                  stderr=subprocess.STDOUT)
        if step.get("id"):
            self.context.outputs[step["id"]] = read_pairs(outputs)
        if done.returncode != 0:
            tail = log.read_text().strip().splitlines()[-15:]
            raise StepFailed(f"exit status {done.returncode} ({log}):\n      " + "\n      ".join(tail))
        self.say(f"    ok ({log})")


class StepFailed(Exception):
    pass


def read_pairs(path: Path) -> dict:
    """NAME=VALUE lines (GITHUB_OUTPUT, GITHUB_ENV)."""
    pairs = {}
    for line in path.read_text().splitlines() if path.exists() else ():
        if "=" in line:
            name, value = line.split("=", 1)
            pairs[name] = value
    return pairs


def rehearse(workflow: Path, job: str | None, rehearsal: Rehearsal, skip_runners: tuple) -> int:
    try:
        document = yaml.safe_load(workflow.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BadInput(f"cannot read the workflow {workflow}: {err}")
    jobs = document.get("jobs") or {}
    if job is not None and job not in jobs:
        raise BadInput(f"the workflow has no job {job!r}: choose one of {', '.join(jobs)}")
    failures = 0
    for name, spec in jobs.items():
        if job is not None and name != job:
            continue
        runner = spec.get("runs-on")
        if job is None and runner in skip_runners:
            rehearsal.say(f"job {name}: skipped: it runs on GitHub's {runner}, not on the project's runner")
            continue
        rehearsal.say(f"job {name} (runs-on {runner})")
        rehearsal.context.failed = False
        job_env = {k: rehearsal.context.substitute(str(v)) for k, v in (spec.get("env") or {}).items()}
        for number, step in enumerate(spec.get("steps") or [], 1):
            title = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
            if not rehearsal.context.runs(step):
                rehearsal.say(f"  step {number} {title}: skipped (if: {step.get('if', 'an earlier step failed')})")
                continue
            started = time.monotonic()
            rehearsal.say(f"  step {number} {title}")
            try:
                uses = step.get("uses", "")
                if "run" in step:
                    rehearsal.run(step, job_env, number)
                elif uses.startswith("actions/checkout@"):
                    rehearsal.checkout(step)
                elif uses.startswith("actions/cache/restore@"):
                    rehearsal.cache(step, "restore")
                elif uses.startswith("actions/cache/save@"):
                    rehearsal.cache(step, "save")
                elif uses.startswith(("actions/upload-artifact@", "actions/upload-pages-artifact@")):
                    rehearsal.upload(step)
                else:
                    rehearsal.say(f"    skipped: {uses} needs GitHub itself")
                    continue
            except StepFailed as err:
                rehearsal.context.failed = True
                failures += 1
                rehearsal.say(f"    FAILED: {err}")
                continue
            rehearsal.say(f"    {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


def pair(text: str) -> tuple:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return tuple(text.split("=", 1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="a folder for the clone, caches, artifacts, logs")
    parser.add_argument("--job", help="only this job (default: every job on the project's own runners)")
    parser.add_argument("--run-id", default="1", help="github.run_id (a second night: another id, the same --work)")
    parser.add_argument("--var", type=pair, action="append", default=[], help="a repository variable: NAME=VALUE")
    parser.add_argument("--env", type=pair, action="append", default=[], help="override the job's env: NAME=VALUE")
    parser.add_argument("--replace", type=pair, action="append", default=[],
                        help="OLD=NEW in every run: text (a GPU's long tier made a CPU's short one)")
    args = parser.parse_args(argv)
    rehearsal = Rehearsal(args.work.absolute(), Context(dict(args.var), run_id=args.run_id), dict(args.env), list(args.replace))
    try:
        args.work.mkdir(parents=True, exist_ok=True)
        status = rehearse(args.workflow, args.job, rehearsal, skip_runners=("ubuntu-latest",))
    except BadInput as err:
        print(f"rehearse_workflow: {err}", file=sys.stderr)
        return 2
    print(f"rehearse_workflow: {'every step that ran succeeded' if status == 0 else 'a step FAILED'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
