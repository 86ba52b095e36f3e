"""The project's shape: cards complete, `datasets/` harmless, records strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.data.cards import CARDS_DIR, load_card
from bench.data.schema import Interaction, Sample
from bench.registry import DOMAINS, NEXT_ITEM_DOMAINS

REPO = Path(__file__).resolve().parent.parent


def test_datasets_folder_does_not_shadow_hugging_face_datasets() -> None:
    pytest.importorskip("datasets")
    code = "import datasets; print(datasets.__file__, datasets.Dataset.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "site-packages" in result.stdout and "Dataset" in result.stdout


ALL_DOMAINS = sorted(DOMAINS.names() + NEXT_ITEM_DOMAINS.names())


@pytest.mark.parametrize("name", ALL_DOMAINS)
def test_every_domain_has_a_complete_card(name: str) -> None:
    card = load_card(name)
    for key in ("title", "licence", "protocol", "sizes", "deviations"):
        assert card.prose.get(key), f"datasets/{name}.yaml lacks {key}"
    required = [entry for entry in card.files if entry.role != "optional"]
    if all(entry.sha256 for entry in required):  # pinned inputs: outputs pinned too
        assert set(card.outputs) == {"items.jsonl", "train.jsonl", "valid.jsonl", "test.jsonl"}
    assert sorted(p.stem for p in CARDS_DIR.glob("*.yaml")) == ALL_DOMAINS


def test_sample_rejects_bad_labels_and_round_trips() -> None:
    history = (Interaction("1", 1), Interaction("2", 0))
    sample = Sample("s", "movie", "test", "u", history, "3", 1)
    assert Sample.from_json(sample.to_json()) == sample
    assert sample.liked_items == ("1",) and sample.disliked_items == ("2",)
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        Sample("s", "movie", "test", "u", history, "3", 2)
    with pytest.raises(ValueError, match="split must be one of"):
        Sample("s", "movie", "dev", "u", history, "3", 1)
    with pytest.raises(ValueError):
        Interaction("1", -1)


def test_list_shows_built_domains(env) -> None:
    import os

    result = subprocess.run(
        [sys.executable, "-m", "bench", "list"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert result.returncode == 0
    assert "movie    train 8000 (4457 likes), valid 1000 (658 likes), test 1000 (528 likes)" in (
        result.stdout
    )
