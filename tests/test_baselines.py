"""Sequential baselines on a small fixed manifest of the real movie domain."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from baselines.recbole_data import EMPTY_HISTORY, history_of, inter_lines
from baselines.sequential import DEVIATIONS, MODEL_PARAMS, recbole_dataset
from bench.data.datastore import load_domain
from bench.data.domain import Domain
from bench.data.schema import Interaction, Item
from bench.data.splits import make_fewshot
from bench.errors import BenchError
from bench.metrics import roc_auc
from bench.registry import PAPER_BASELINES, RUNNERS
from bench.tasks.runner import with_settings


@pytest.fixture
def movie(env):
    domain, data_sha = load_domain("movie")
    return domain, make_fewshot(domain, data_sha, 16, 0)


def quick(name: str, **changes):
    """The registered runner with a short training budget."""
    return with_settings(RUNNERS.load(name), **({"max_epochs": 4, "patience": 4} | changes))


def fit(runner_class, domain, manifest, tmp_path: Path, seed: int = 0):
    runner = runner_class(seed=seed, threads=1)
    info = runner.fit(domain, manifest, tmp_path)
    return runner, info


def check_trained_and_scored(runner, info, domain, manifest) -> list[float]:
    _, valid = manifest.samples(domain)
    restored = roc_auc([s.label for s in valid], runner.score(valid))
    assert restored == pytest.approx(info["best_valid_score"], abs=1e-6)  # best epoch restored
    assert max(info["valid_score_by_epoch"]) == pytest.approx(info["best_valid_score"], abs=1e-5)
    scores = runner.score(domain.samples("test"))
    assert len(scores) == len(domain.samples("test")) == 1000
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) > 100
    return scores


def test_sasrec_trains_restores_its_best_epoch_and_scores_every_test_sample(movie, tmp_path):
    runner, info = fit(quick("sasrec"), *movie, tmp_path)
    assert info["n_train"] == 16 and info["n_valid"] == 1000 and info["epochs_run"] <= 4
    check_trained_and_scored(runner, info, *movie)


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_BASELINES)
def test_every_paper_baseline_trains_and_scores(movie, tmp_path, name):
    runner, info = fit(quick(name), *movie, tmp_path)
    check_trained_and_scored(runner, info, *movie)


def test_same_seed_same_scores_other_seed_other_scores(movie, tmp_path):
    first = fit(quick("caser"), *movie, tmp_path)[0].score(movie[0].samples("test"))
    again = fit(quick("caser"), *movie, tmp_path)[0].score(movie[0].samples("test"))
    other = fit(quick("caser"), *movie, tmp_path, seed=1)[0].score(movie[0].samples("test"))
    assert first == again
    assert first != other


def test_samples_reach_the_model_as_recbole_reads_the_atomic_files(movie, tmp_path):
    domain, manifest = movie
    runner, _ = fit(quick("gru4rec", max_epochs=1), domain, manifest, tmp_path)
    _, valid_data, test_data = recbole_dataset(runner.files)
    for samples, data in (
        (manifest.samples(domain)[1], valid_data),
        (domain.samples("test"), test_data),
    ):
        ours, theirs = runner.to_interaction(samples), data.inter_feat
        for field in ("item_id_list", "history_label", "item_length", "item_id", "label"):
            assert torch.equal(ours[field], theirs[field]), field


def test_dros_term_changes_the_loss_and_its_gradient(movie, tmp_path):
    runner, _ = fit(quick("dros", max_epochs=1), *movie, tmp_path)
    model = runner.model
    batch = runner.to_interaction(movie[0].samples("valid")[:32])

    def loss_and_grad(alpha: float):
        model.dros_alpha = alpha
        model.zero_grad()
        loss = model.calculate_loss(batch)
        loss.backward()
        return loss.item(), model.item_embedding.weight.grad.clone()

    model.train(False)
    with_dros, grad_with = loss_and_grad(0.4)
    without, grad_without = loss_and_grad(0.0)
    assert with_dros != pytest.approx(without)
    assert not torch.allclose(grad_with, grad_without)
    # the term itself, by hand, for the first sample
    sequence = model.sequence_output(batch)[:1]
    target = batch["item_id"][:1]
    scores = (sequence @ model.item_embedding.weight.T)[0]
    wanted = torch.zeros_like(scores)
    wanted[target[0]] = 1.0
    by_hand = torch.log(torch.exp(model.propensity * (scores - wanted) ** 2)[1:].sum())
    got = model.dros_loss(sequence, target, batch["label"][:1])[0]
    assert got.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_dros_weights_follow_training_target_popularity(movie, tmp_path):
    runner, _ = fit(quick("dros", max_epochs=1), *movie, tmp_path)
    data = runner.dataset
    counts = torch.bincount(data.inter_feat["item_id"], minlength=data.item_num).double() + 1
    expected = (counts / counts.sum()) ** 0.05
    assert torch.allclose(runner.model.propensity.double(), expected, rtol=1e-6)


@pytest.mark.slow
def test_bert_runners_really_use_the_item_text(movie, tmp_path):
    domain, manifest = movie
    test = domain.samples("test")
    plain = fit(quick("gru4rec"), domain, manifest, tmp_path)[0].score(test)
    text = fit(quick("gru-bert"), domain, manifest, tmp_path)[0].score(test)
    reversed_titles = {i: Item(i, item.title[::-1]) for i, item in domain.items.items()}
    other = Domain(domain.name, domain.splits, reversed_titles)
    other_text = fit(quick("gru-bert"), other, manifest, tmp_path)[0].score(test)
    assert text != plain
    assert text != other_text  # other text, other embeddings, other scores


def test_label_aware_option_feeds_history_labels(movie, tmp_path):
    runner, _ = fit(quick("sasrec-label", max_epochs=1), *movie, tmp_path)
    samples = list(movie[0].samples("test")[:50])
    flipped = [
        dataclasses.replace(
            s, history=tuple(Interaction(e.item_id, 1 - e.label) for e in s.history)
        )
        for s in samples
    ]
    assert runner.score(samples) != runner.score(flipped)
    plain, _ = fit(quick("sasrec", max_epochs=1), *movie, tmp_path)
    assert plain.score(samples) == plain.score(flipped)  # the paper's setting: ids only


def test_history_adapter_keeps_recent_items_and_never_drops_a_sample(movie):
    sample = movie[0].samples("test")[0]
    longer = dataclasses.replace(sample, history=sample.history + (Interaction("1", 1),) * 3)
    assert history_of(longer, 10) == [(e.item_id, e.label) for e in longer.history[-10:]]
    empty = dataclasses.replace(sample, history=())
    assert history_of(empty, 10) == [(EMPTY_HISTORY, 0)]
    lines = inter_lines([sample, empty], 10).splitlines()
    assert len(lines) == 3 and lines[2].split("\t")[1] == EMPTY_HISTORY


def _number(value):
    """YAML 1.1 reads 1e-4 as a string; RecBole's loader reads it as a float."""
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def test_defaults_differ_from_recbole_only_where_named():
    import recbole

    root = Path(recbole.__file__).parent / "properties" / "model"
    for model, ours in MODEL_PARAMS.items():
        theirs = yaml.safe_load((root / f"{model}.yaml").read_text())
        changed = {key for key, value in ours.items() if _number(theirs.get(key)) != value}
        assert changed == set(DEVIATIONS[model]), model


def test_importing_recbole_models_leaves_anomaly_detection_off():
    import baselines.models  # noqa: F401  (imports recbole's sine.py)

    assert not torch.is_anomaly_enabled()


def test_diverging_loss_is_a_clear_error(movie, tmp_path):
    runner_class = quick("sasrec", learning_rate=1e30)
    with pytest.raises(
        BenchError,
        match=r"sasrec: (loss|validation scores) became (nan|inf) at epoch \d+: training diverged",
    ):
        fit(runner_class, *movie, tmp_path)


def test_scores_do_not_depend_on_order(movie, tmp_path):
    runner, _ = fit(quick("caser", max_epochs=1), *movie, tmp_path)
    samples = list(movie[0].samples("test")[:64])
    forward = runner.score(samples)
    backward = runner.score(samples[::-1])[::-1]
    assert np.allclose(forward, backward, atol=1e-6)
