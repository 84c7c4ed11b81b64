"""Checks against the real datasets in ../shared/data; skipped when that folder is absent."""

import numpy as np
import pytest

from gtcrec.data import dataset_stats
from gtcrec.data.mmrec import load_mmrec
from gtcrec.data.sources import find_shared
from gtcrec.evaluation import Evaluator


def shared_or_skip(name):
    path = find_shared(name)
    if path is None:
        pytest.skip(f"real dataset {name!r} not found (looked in $GTCREC_DATA_DIR, ./shared/data, ../shared/data)")
    return path


def test_tiktok_matches_provenance():
    with pytest.warns(UserWarning, match="10 user"):
        data = load_mmrec(shared_or_skip("tiktok"))
    stats = dataset_stats(data)
    assert (stats["users"], stats["items"], stats["interactions"]) == (9308, 6710, 68722)
    assert stats["splits"] == {"train": 59541, "valid": 3051, "test": 6130}
    assert data.features["image"].dtype == np.float32 and data.features["audio"].shape == (6710, 128)
    # MMRec excludes users without training interactions: 3,046 valid and 6,125 test users.
    assert len(Evaluator(data, "valid").users) == 3046
    assert len(Evaluator(data, "test").users) == 6125


def test_baby_matches_provenance():
    data = load_mmrec(shared_or_skip("baby"))
    stats = dataset_stats(data)
    assert (stats["users"], stats["items"], stats["interactions"]) == (19445, 7050, 160792)
    assert stats["splits"] == {"train": 118551, "valid": 20559, "test": 21682}
    assert data.features == {}
