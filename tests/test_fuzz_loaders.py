"""Property-based fuzzing of the loaders and the importer: whatever the bytes, the only allowed outcomes
are a correct load or a project error (gtcrec.errors.UserError) naming what was wrong."""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from gtcrec.data import (
    SyntheticConfig,
    import_interactions,
    load_mmrec,
    make_synthetic,
    write_mmrec,
)
from gtcrec.data.validation import load_npy
from gtcrec.errors import UserError

hypothesis = pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (pip install 'gtcrec[dev]')")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# GTCREC_FUZZ_EXAMPLES=1000 for a longer hunt; CI runs 40 per property.
FUZZ = settings(max_examples=int(os.environ.get("GTCREC_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEMPLATE = Path(tempfile.mkdtemp(prefix="gtcrec-fuzz-")) / "syn"
write_mmrec(make_synthetic(SyntheticConfig(n_users=30, n_items=28, seed=0)), TEMPLATE)
INTER = next(TEMPLATE.glob("*.inter")).name


def loads_or_refuses(call) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DataWarnings are allowed outcomes too
        try:
            call()
        except UserError as exc:
            assert str(exc).strip(), "a project error must say what was wrong"


def with_file(name: str, content: bytes):
    folder = Path(tempfile.mkdtemp(prefix="gtcrec-fuzz-"))
    shutil.copytree(TEMPLATE, folder / "syn")
    (folder / "syn" / name).write_bytes(content)
    return folder


@FUZZ
@given(st.sampled_from([INTER, "visual_feat.npy", "dataset.yaml"]), st.binary(max_size=400))
def test_random_bytes_in_any_dataset_file(name, content):
    folder = with_file(name, content)
    try:
        loads_or_refuses(lambda: load_mmrec(folder / "syn"))
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(st.sampled_from([INTER, "visual_feat.npy", "textual_feat.npy", "dataset.yaml"]), st.floats(0, 1))
def test_truncated_dataset_files(name, share):
    content = (TEMPLATE / name).read_bytes()
    folder = with_file(name, content[: int(len(content) * share)])
    try:
        loads_or_refuses(lambda: load_mmrec(folder / "syn"))
    finally:
        shutil.rmtree(folder)


CELLS = st.one_of(st.integers(-5, 40).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                  st.text(max_size=4), st.just(""), st.sampled_from(["1.0", "2e3", "+3", " 4", "nan"]))
HEADERS = st.lists(st.sampled_from(["userID", "itemID", "rating", "timestamp", "x_label", "user", "extra", ""]),
                   min_size=1, max_size=6)


@FUZZ
@given(HEADERS, st.lists(st.lists(CELLS, min_size=0, max_size=7), max_size=12))
def test_random_headers_and_cells_in_the_interaction_file(header, rows):
    text = "\t".join(header) + "\n" + "".join("\t".join(row) + "\n" for row in rows)
    folder = with_file(INTER, text.encode())
    try:
        loads_or_refuses(lambda: load_mmrec(folder / "syn"))
    finally:
        shutil.rmtree(folder)


ARRAYS = st.one_of(
    st.tuples(st.integers(0, 30), st.integers(0, 5)).map(lambda s: np.zeros(s, np.float32)),
    st.integers(0, 40).map(lambda n: np.arange(n, dtype=np.int16)),
    st.sampled_from([np.array(["a", "b"]), np.full((28, 3), np.nan), np.ones((28, 2, 2)), np.zeros((28, 4), bool),
                     np.zeros((28, 4), np.complex64), np.full((28, 3), np.inf, np.float64)]),
)


@FUZZ
@given(ARRAYS)
def test_feature_arrays_of_any_shape_and_dtype(array):
    folder = Path(tempfile.mkdtemp(prefix="gtcrec-fuzz-"))
    shutil.copytree(TEMPLATE, folder / "syn")
    np.save(folder / "syn" / "visual_feat.npy", array)
    try:
        loads_or_refuses(lambda: load_mmrec(folder / "syn"))
        loads_or_refuses(lambda: load_npy(folder / "syn" / "visual_feat.npy"))
    finally:
        shutil.rmtree(folder)


YAML_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 50), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=6)


@FUZZ
@given(st.dictionaries(st.sampled_from(["name", "inter", "n_users", "n_items", "modalities", "columns", "other"]),
                       YAML_VALUES, max_size=5))
def test_dataset_yaml_with_any_fields(spec):
    folder = with_file("dataset.yaml", yaml.safe_dump(spec).encode())
    try:
        loads_or_refuses(lambda: load_mmrec(folder / "syn"))
    finally:
        shutil.rmtree(folder)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_the_importer_on_any_bytes(content, suffix):
    folder = Path(tempfile.mkdtemp(prefix="gtcrec-fuzz-"))
    (folder / f"log{suffix}").write_bytes(content)
    try:
        loads_or_refuses(lambda: import_interactions(folder / f"log{suffix}", folder / "out", kcore=1))
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("cell", ["1_0", "1.5", "1e3", "0x1", "True", "", "nan", "99999999999999999999"])
def test_ids_that_are_not_plain_integers_are_refused_with_their_line(cell):
    text = (TEMPLATE / INTER).read_text().splitlines()
    fields = text[2].split("\t")
    fields[0] = cell
    text[2] = "\t".join(fields)
    folder = with_file(INTER, ("\n".join(text) + "\n").encode())
    try:
        with pytest.raises(UserError, match="line 3"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_mmrec(folder / "syn")
    finally:
        shutil.rmtree(folder)
