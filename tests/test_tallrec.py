"""TALLRec LoRA rec-tuning on the real default model and 16 real movie samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data.datastore import load_domain
from bench.data.splits import make_fewshot
from bench.data.tallrec_format import to_record
from bench.errors import BenchError
from bench.tasks.runner import with_settings
from llm.lora import IGNORE, _collate, _token_loss_sum
from llm.models import load_model
from llm.prompts import render_prompt
from llm.scorer import YesNoScorer
from llm.tallrec import TallRecCPU, eval_every

pytestmark = pytest.mark.slow  # trains LoRA on the real model: about two minutes
QUICK = {"max_steps": 4, "eval_every": 2, "valid_subset": 16, "warmup_steps": 0}


def _mean_loss(model, examples, pad_id) -> float:
    model.eval()
    with torch.no_grad():
        total, tokens = _token_loss_sum(model, _collate(examples, pad_id))
    return total.item() / tokens


@pytest.fixture(scope="module")
def trained(session_cache: Path, data_dir: Path, tmp_path_factory):
    """One short rec-tuning run, shared by the tests below."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE", str(session_cache))
        patch.setenv("BENCH_DATA_DIR", str(data_dir))
        domain, data_sha = load_domain("movie")
        manifest = make_fewshot(domain, data_sha, 16, 0)
        runner = with_settings(TallRecCPU, **QUICK)(seed=0)
        base, tokenizer, _ = load_model()
        train, _ = manifest.samples(domain)
        records = [to_record(s, domain.items) for s in train]
        examples = [runner._example(tokenizer, render_prompt(r), r["output"]) for r in records]
        test = list(domain.samples("test")[:12])
        base_runner = with_settings(TallRecCPU, **QUICK)(seed=0)
        base_runner.attach(base, tokenizer, domain)
        before = {
            "loss": _mean_loss(base, examples, base_runner.scorer.pad_id),
            "scores": base_runner.score(test),
        }
        workdir = tmp_path_factory.mktemp("tallrec")
        info = runner.fit(domain, manifest, workdir)
        yield runner, info, workdir, examples, test, before


def test_rec_tuning_lowers_the_training_loss_and_changes_the_scores(trained):
    runner, info, _, examples, test, before = trained
    after_loss = _mean_loss(runner.model, examples, runner.scorer.pad_id)
    assert after_loss < before["loss"] - 1e-3
    after = runner.score(test)
    assert all(0.0 < s < 1.0 for s in after)
    assert np.abs(np.array(after) - np.array(before["scores"])).max() > 1e-3
    assert info["steps"] <= 4 and [step for step, _ in info["valid_score_by_step"]][0] == 2
    assert info["best_step"] in [step for step, _ in info["valid_score_by_step"]]
    assert info["stage1"]["kind"] == "base model's own instruction tuning"
    assert info["n_train"] == 16 and info["n_valid"] == 16


def test_every_example_is_the_whole_prompt_and_answer_with_eos(trained):
    runner, _, _, examples, _, _ = trained
    tokenizer = runner.scorer.tokenizer
    text = tokenizer.decode(examples[0].input_ids)
    assert text.startswith("Below is an instruction") and text.endswith(
        ("Yes.<|im_end|>", "No.<|im_end|>")
    )
    assert examples[0].labels == examples[0].input_ids  # train_on_inputs, as TALLRec
    assert IGNORE not in examples[0].labels


def test_saved_adapter_is_standard_peft_and_reproduces_the_scores(trained):
    from peft import PeftModel

    runner, info, workdir, _, test, _ = trained
    adapter = workdir / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["lora_alpha"] == 16 and config["lora_dropout"] == 0.05
    assert (
        sorted(config["target_modules"])
        == ["q_proj", "v_proj"]
        == info["adapter"]["target_modules"]
    )
    base, tokenizer, _ = load_model()
    reloaded = PeftModel.from_pretrained(base, adapter).eval()
    prompts = runner.prompts(test)
    scores = YesNoScorer(reloaded, tokenizer, prompts[0]).score(prompts)
    assert np.allclose(scores, runner.score(test), atol=1e-5, rtol=0)


def test_config_names_every_deviation_from_the_papers_protocol(trained):
    runner, _, _, _, _, _ = trained
    deviations = runner.config()["deviations_from_paper"]
    assert deviations["max_steps"] == "0 -> 4" and deviations["profile"] == "'paper' -> 'cpu'"
    assert deviations["learning_rate"] == "0.0001 -> 0.001"
    assert "lora_r" not in deviations and "cutoff_len" not in deviations


def test_tallrecs_evaluation_interval():
    paper = TallRecCPU.settings.__class__()
    assert [eval_every(paper, k) for k in (16, 64, 128, 256, 512)] == [10, 10, 10, 10, 20]


def test_adapter_of_another_base_model_is_refused(env, tmp_path: Path, tiny_llama):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(tiny_llama, lora).save_pretrained(tmp_path / "tiny-adapter")
    domain, data_sha = load_domain("movie")
    runner = with_settings(TallRecCPU, init_adapter=str(tmp_path / "tiny-adapter"))(seed=0)
    with pytest.raises(BenchError, match="does not fit this base model .*size mismatch"):
        runner.fit(domain, make_fewshot(domain, data_sha, 16, 0), tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_diverging_training_stops_with_a_named_error_and_writes_nothing(env, tmp_path: Path):
    domain, data_sha = load_domain("movie")
    settings = QUICK | {"learning_rate": 1e6, "max_steps": 3}
    runner = with_settings(TallRecCPU, **settings)(seed=0)
    with pytest.raises(
        BenchError, match="became nan at step [1-3]: training diverged; lower learning_rate"
    ):
        runner.fit(domain, make_fewshot(domain, data_sha, 16, 0), tmp_path / "work")
    assert not (tmp_path / "work").exists()


def test_unreadable_instruction_data_is_named(env, tmp_path: Path):
    bad = tmp_path / "alpaca.json"
    bad.write_text('{"instruction": "not a list"}')
    domain, data_sha = load_domain("movie")
    runner = with_settings(TallRecCPU, instruction_data=str(bad))(seed=0)
    with pytest.raises(BenchError, match=f"instruction data {bad} is not a JSON list"):
        runner.fit(domain, make_fewshot(domain, data_sha, 16, 0), tmp_path / "work")
