"""TALLRec's Alpaca prompt, exactly as its ``finetune_rec.py``/``evaluate.py`` build it.

The faithful template keeps a stray literal ``  # noqa: E501`` at the end of its first line
(a linter comment that ended up inside TALLRec's f-string); ``clean`` drops it. In-context
demonstrations, when given, are answered Input/Response pairs placed before the question,
under the same instruction.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.errors import BenchError

_HEADER = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request."
)
_PREFIX = {"tallrec": _HEADER + "  # noqa: E501", "clean": _HEADER}
TEMPLATES = tuple(_PREFIX)


def _example(record: dict[str, str]) -> str:
    return f"### Input:\n{record['input']}\n\n### Response:\n"


def render_prompt(
    record: dict[str, str], template: str = "tallrec", demos: Sequence[dict[str, str]] = ()
) -> str:
    """The prompt for a TALLRec instruction record, ending where the answer starts."""
    if template not in _PREFIX:
        raise BenchError(f"unknown prompt template {template!r}: use one of {TEMPLATES}")
    shown = "".join(f"{_example(demo)}{demo['output']}\n\n" for demo in demos)
    return (
        f"{_PREFIX[template]}\n\n### Instruction:\n{record['instruction']}\n\n"
        f"{shown}{_example(record)}"
    )


_NO_INPUT_HEADER = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)


def render_alpaca(record: dict[str, str], template: str = "tallrec") -> str:
    """Alpaca's prompt for an instruction record (stage 1): with or without an input."""
    if record.get("input"):
        return render_prompt(record, template)
    return f"{_NO_INPUT_HEADER}\n\n### Instruction:\n{record['instruction']}\n\n### Response:\n"
