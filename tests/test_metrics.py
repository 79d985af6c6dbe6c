"""The GLUE MRPC metric definition, pinned on the real validation split."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from bench.judge import learning
from finetune import metrics
from finetune.glue_tsv import load_glue_dir
from tests.conftest import MRPC


def test_constant_predictions_on_mrpc_validation(real_glue_dir):
    labels = np.asarray(load_glue_dir(real_glue_dir, MRPC)["validation"]["label"])
    positive = metrics.local_glue_mrpc(np.ones_like(labels), labels)
    assert positive == {"accuracy": 0.6838235294117647, "f1": 0.8122270742358079}
    negative = metrics.local_glue_mrpc(np.zeros_like(labels), labels)
    assert negative == {"accuracy": pytest.approx(0.3161764705882353), "f1": 0.0}
    assert metrics.majority_accuracy(labels) == positive["accuracy"]  # MRPC's majority class is positive


def test_local_metric_equals_sklearn_used_by_evaluate():
    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, 50)
        predictions = rng.integers(0, 2, 50)
        local = metrics.local_glue_mrpc(predictions, labels)
        assert local["accuracy"] == pytest.approx(accuracy_score(labels, predictions))
        assert local["f1"] == pytest.approx(f1_score(labels, predictions))


def test_offline_metric_says_it_is_local(monkeypatch):
    monkeypatch.setattr(metrics.environment, "hub_reachable", lambda: False)
    scores, source = metrics.glue_mrpc([1, 0, 1], [1, 1, 1])
    assert scores == {"accuracy": pytest.approx(2 / 3), "f1": 0.8}
    assert source.startswith("local") and "Hub unreachable" in source


@pytest.mark.parametrize("predictions, expected", [
    ([1, 1, 1], "all-positive"), ([0, 0], "all-negative"), ([0, 1, 1], None),
])
def test_collapse_is_named(predictions, expected):
    assert metrics.collapsed(predictions, num_labels=2) == expected


def test_majority_accuracy_takes_the_most_common_label_either_way():
    assert metrics.majority_accuracy([0, 0, 0, 1]) == 0.75 == metrics.majority_accuracy([1, 0, 1, 1])


@pytest.mark.parametrize("accuracy, collapsed, expected", [
    (0.6838, "all-positive", "COLLAPSED to all-positive (constant prediction)"),
    (0.3897, None, "BELOW the majority class (0.6838): did not learn"),  # string + linear-decay, seed 1, measured
    (0.6838235294117647, None, "learned"),  # as good as a constant, but not one
    (0.8137, None, "learned"),
])
def test_verdict_names_runs_that_did_not_learn(accuracy, collapsed, expected):
    assert learning.verdict(accuracy, collapsed, majority=0.6838235294117647) == expected
    assert learning.learned(accuracy, collapsed, majority=0.6838235294117647) == (expected == "learned")
    assert learning.learned(accuracy, collapsed, majority=None) == (collapsed is None)  # majority not recorded
