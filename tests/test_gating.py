"""bench.session.gating's learning rule: a pretrained model's variants of the fix must learn; a random model's (tiny,
whose every recipe collapses on MRPC in the CI tier) skip saying why, so that `pytest bench/ --model tiny` (the
nightly workflows' rehearsal on a CPU, tests/rehearse_workflow.py) is not red for a verdict that proves nothing."""

from types import SimpleNamespace

import pytest

from bench.session import gating

COLLAPSED = SimpleNamespace(accuracy=279 / 408, f1=0.8122, collapsed="all-positive", majority_accuracy=279 / 408,
                            scores={"accuracy": 279 / 408, "f1": 0.8122})
LEARNED = SimpleNamespace(accuracy=290 / 408, f1=0.82, collapsed=None, majority_accuracy=279 / 408,
                          scores={"accuracy": 290 / 408, "f1": 0.82})


def suite(source):
    model = SimpleNamespace(source=source)
    return SimpleNamespace(prepared=lambda: SimpleNamespace(model=model), options=SimpleNamespace(model="m"))


def test_a_random_models_variant_that_did_not_learn_skips_naming_why():
    assert gating.must_learn(suite("random")) is False
    with pytest.raises(pytest.skip.Exception, match=r"best \(bucket\) did not learn \(accuracy 0\.6838.*random weights"):
        gating.random_weights_skip(suite("random"), "best (bucket)", COLLAPSED)
    gating.random_weights_skip(suite("random"), "best (bucket)", LEARNED)  # one that learned is judged as usual


def test_a_pretrained_models_variant_never_skips_for_not_learning():
    for source in ("bundled", "hub", "local"):
        assert gating.must_learn(suite(source)) is True
        gating.random_weights_skip(suite(source), "best (bucket)", COLLAPSED)  # no skip: the test's assert fails it
