"""FLOPs per training step, counted a second way on bert-base, and the GPU peaks MFU is measured against."""

import pytest

import finetune  # noqa: F401
from finetune import flops
from finetune.flops import Architecture, forward_flops, training_flops

BERT_BASE = Architecture(hidden_size=768, num_hidden_layers=12, intermediate_size=3072, num_attention_heads=12,
                         vocab_size=30522, num_labels=2)
BERT_BASE_PARAMETERS = 109_482_240  # BertModel("bert-base-uncased"), as transformers counts it (pooler included)


def matmul_weights(h=768, i=3072, layers=12, vocab=30522, positions=512, types=2, labels=2):
    """bert-base's parameters that multiply activations: all of them but embeddings, biases and layer norms."""
    embeddings = (vocab + positions + types) * h + 2 * h  # tables + their layer norm
    per_layer_non_matmul = (4 * h + i + h) + 2 * (2 * h)  # biases of Q, K, V, O, FFN in and out; two layer norms
    pooler_bias = h
    encoder = BERT_BASE_PARAMETERS - embeddings - layers * per_layer_non_matmul - pooler_bias - h * h
    return encoder, h * h + h * labels  # (per-token weights, per-sequence weights: pooler + classifier)


def test_bert_base_forward_flops_match_a_count_from_the_parameter_total():
    batch, seq = 8, 128
    encoder, head = matmul_weights()
    assert encoder == 12 * (4 * 768 * 768 + 2 * 768 * 3072)  # the layout the two counts share, as a sanity check
    # each weight is used once per token (per sequence for the head), one multiply-add = 2 FLOPs;
    # attention: per layer, batch x (Q K^T and A V), each a [seq, h] x [h, seq] product
    attention = 12 * batch * 2 * (2 * seq * 768 * seq)
    expected = 2 * encoder * batch * seq + 2 * head * batch + attention
    assert expected == 178_787_475_456
    assert forward_flops(BERT_BASE, batch, seq) == expected


def test_training_is_forward_plus_a_twice_as_costly_backward():
    assert training_flops(BERT_BASE, 8, 128) == 3 * forward_flops(BERT_BASE, 8, 128)


def test_flops_are_linear_in_batch_size_and_superlinear_in_sequence_length():
    assert forward_flops(BERT_BASE, 32, 128) == pytest.approx(4 * forward_flops(BERT_BASE, 8, 128), rel=1e-12)
    short, long = forward_flops(BERT_BASE, 8, 128), forward_flops(BERT_BASE, 8, 256)
    assert 2 * short < long < 4 * short  # projections and FFN double, attention quadruples
    # the excess over doubling is the attention term's growth, less the per-sequence head counted once
    assert long - 2 * short == 12 * 8 * 2 * 2 * 768 * (256 ** 2 - 2 * 128 ** 2) - 8 * (2 * 768 * 768 + 2 * 768 * 2)


def test_architecture_from_a_transformers_config_and_a_config_json():
    from transformers import BertConfig

    assert Architecture.from_config(BertConfig()) == BERT_BASE
    as_json = {"hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536, "num_attention_heads": 12,
               "vocab_size": 30522}  # all-MiniLM-L6-v2's config.json: no num_labels
    assert Architecture.from_config(as_json, num_labels=2).hidden_size == 384
    assert Architecture.from_config({**as_json, "id2label": {"0": "a", "1": "b", "2": "c"}}).num_labels == 3
    with pytest.raises(ValueError, match="no num_labels"):
        Architecture.from_config(as_json)
    with pytest.raises(ValueError, match="not a multiple"):
        Architecture.from_config({**as_json, "num_attention_heads": 5}, num_labels=2)


@pytest.mark.parametrize("device_name, precision, tflops", [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.4),  # TensorFlow's name for the SXM part
    ("NVIDIA H100 80GB HBM3", "mixed_bfloat16", 989.4),  # the Keras policy name
    ("NVIDIA H100 80GB HBM3", "fp16", 989.4),
    ("NVIDIA H100 80GB HBM3", "tf32", 494.7),
    ("NVIDIA H100 PCIe", "bf16", 756.0),
    ("NVIDIA H200", "bf16", 989.4),
    ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
    ("NVIDIA A100-PCIE-40GB", "bf16", 312.0),
    ("NVIDIA L4", "bf16", 121.0),
    ("NVIDIA L40S", "bf16", 362.05),
    ("NVIDIA A10G", "bf16", 70.0),
    ("Tesla T4", "fp16", 65.0),
    ("Tesla V100-SXM2-16GB", "fp16", 125.0),
    ("NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3", "bf16", 989.4),  # a step runs on the first GPU
])
def test_peak_for_tensorflow_device_names(device_name, precision, tflops):
    peak = flops.peak_for(device_name, precision)
    assert peak is not None and peak.tflops == tflops and peak.source


@pytest.mark.parametrize("device_name, precision", [
    ("AMD EPYC 7B13", "fp32"),  # CPUs: no peak, so no MFU
    ("Intel(R) Xeon(R) Platinum 8480+", "bf16"),
    ("Tesla T4", "bf16"),  # Turing has no bf16 tensor cores
    ("NVIDIA H100 NVL", "bf16"),  # not in the table: no SXM number by mistake
    ("NVIDIA A10", "bf16"),  # the A10 is not the A10G
])
def test_no_peak_where_none_is_known(device_name, precision):
    assert flops.peak_for(device_name, precision) is None


def test_a_float32_row_that_ran_as_fp32_has_the_datasheets_fp32_peak():
    """PyTorch runs float32 matmuls as FP32 unless allow_tf32: such a row is "fp32", with its own peak, far below
    TF32's (it once had none, and its MFU fell back to a calibration)."""
    fp32, tf32 = flops.peak_for("NVIDIA H100 80GB HBM3", "fp32"), flops.peak_for("NVIDIA H100 80GB HBM3", "tf32")
    assert (fp32.tflops, fp32.precision, tf32.tflops) == (67.0, "fp32", 494.7)
    assert flops.peak_for("NVIDIA H200", "float32").tflops == 67.0


def test_h100_pcie_is_not_taken_for_sxm():
    assert flops.peak_for("NVIDIA H100 PCIe", "bf16") != flops.peak_for("NVIDIA H100 80GB HBM3", "bf16")


def test_mfu_is_achieved_over_peak():
    peak = flops.peak_for("NVIDIA H100 80GB HBM3", "bf16")
    assert flops.mfu(494.7e12, peak) == pytest.approx(0.5)
    step = training_flops(BERT_BASE, 32, 128)
    assert flops.mfu(step / 0.050, peak) == pytest.approx(step / 0.050 / 989.4e12)
    assert flops.mfu(1e12, None) is None
