"""GLUE_DIR loading: BOM, bare quotes, the Hub's schema and rows, and one-line errors for bad files."""

import collections

import pytest

from finetune import FinetuneError
from finetune.glue_tsv import hub_features, load_glue_dir
from tests.conftest import MRPC, generated_rows, write_glue_tsv


def test_bom_and_quotes_survive(tmp_path):
    rows = generated_rows(5)
    write_glue_tsv(tmp_path / "MRPC" / "train.tsv", rows)
    write_glue_tsv(tmp_path / "MRPC" / "dev.tsv", rows[:2])
    splits = load_glue_dir(tmp_path, MRPC)
    train = splits["train"]
    assert train.column_names == ["sentence1", "sentence2", "label", "idx"]
    assert train["label"] == [row[0] for row in rows]
    assert train["sentence1"][1] == rows[1][3]  # contains bare "item" quotes, kept verbatim
    assert train["idx"] == list(range(5))
    assert train.features == hub_features(MRPC)


@pytest.mark.parametrize("bad_row, problem", [
    ((1, 7, 8, "only four fields"), "malformed row with 4 tab-separated fields"),
    ((2, 7, 8, "a", "b"), "label '2' is not one of 0..1"),
    (("x", 7, 8, "a", "b"), "label 'x'"),
])
def test_malformed_row_names_file_and_line(tmp_path, bad_row, problem):
    rows = generated_rows(3)
    write_glue_tsv(tmp_path / "MRPC" / "train.tsv", rows[:2] + [bad_row] + rows[2:])
    write_glue_tsv(tmp_path / "MRPC" / "dev.tsv", rows)
    with pytest.raises(FinetuneError) as err:
        load_glue_dir(tmp_path, MRPC)
    message = str(err.value)
    assert "train.tsv:4: " in message and problem in message and "\n" not in message


def test_wrong_header_is_reported(tmp_path):
    write_glue_tsv(tmp_path / "MRPC" / "train.tsv", generated_rows(2), header=("a", "b", "c", "d", "e"))
    write_glue_tsv(tmp_path / "MRPC" / "dev.tsv", generated_rows(2))
    with pytest.raises(FinetuneError, match=r"train.tsv:1: the header .* has no column 'Quality', '#1 String'"):
        load_glue_dir(tmp_path, MRPC)


@pytest.mark.parametrize("empty", ["train.tsv", "dev.tsv"])
def test_header_only_file_is_reported(tmp_path, empty):
    for name in ("train.tsv", "dev.tsv"):
        write_glue_tsv(tmp_path / "MRPC" / name, [] if name == empty else generated_rows(2))
    with pytest.raises(FinetuneError) as err:
        load_glue_dir(tmp_path, MRPC)
    message = str(err.value)
    assert message == (f"{tmp_path / 'MRPC' / empty}: no data rows after the header: restore the file from the GLUE "
                       "download (MRPC)")


def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(FinetuneError, match="does not exist: set GLUE_DIR or --glue-dir"):
        load_glue_dir(tmp_path / "nowhere", MRPC)
    (tmp_path / "MRPC").mkdir()
    with pytest.raises(FinetuneError, match=r"MRPC/train.tsv is missing"):
        load_glue_dir(tmp_path, MRPC)


def test_real_mrpc_matches_the_hub_splits(real_glue_dir):
    splits = load_glue_dir(real_glue_dir, MRPC)
    # Row and label counts of HF glue/mrpc train and validation.
    assert collections.Counter(splits["train"]["label"]) == {1: 2474, 0: 1194}
    assert collections.Counter(splits["validation"]["label"]) == {1: 279, 0: 129}
    for split in splits.values():
        assert split.features == hub_features(MRPC)
        assert split["idx"] == list(range(len(split)))
        assert all(s1 and s2 for s1, s2 in zip(split["sentence1"], split["sentence2"]))
    # QUOTE_NONE keeps the corpus's bare quotes; a quoting reader would merge rows and lose them.
    assert sum('"' in s for s in splits["train"]["sentence1"]) > 100
