"""TALLRec's Alpaca prompt, exactly as its ``finetune_rec.py``/``evaluate.py`` build it.

The faithful template keeps a stray literal ``  # noqa: E501`` at the end of its first line
(a linter comment that ended up inside TALLRec's f-string); ``clean`` drops it.
"""

from __future__ import annotations

from bench.errors import BenchError

_HEADER = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request."
)
TEMPLATES = {
    "tallrec": _HEADER
    + "  # noqa: E501\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
    "clean": _HEADER
    + "\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
}


def render_prompt(record: dict[str, str], template: str = "tallrec") -> str:
    """The prompt for a TALLRec instruction record, ending where the answer starts."""
    if template not in TEMPLATES:
        raise BenchError(f"unknown prompt template {template!r}: use one of {sorted(TEMPLATES)}")
    return TEMPLATES[template].format(instruction=record["instruction"], input=record["input"])
