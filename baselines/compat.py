"""RecBole 1.2.1 on today's stack: every workaround in one place, applied by ``patch()``.

Measured on this project's machines:

1. numpy 2 removed ``np.float_``, ``np.complex_``, ``np.unicode_``; RecBole's
   ``Config.compatibility_settings`` reads them (and then sets ``np.float``, ``np.long`` ...),
   so ``Config(...)`` raises AttributeError. We restore the three aliases.
2. ``recbole.quick_start`` imports ``ray.tune`` at import time and RecBole's pinned ray
   cannot import here: this project never imports ``recbole.quick_start``.
3. Importing ``recbole.model.sequential_recommender`` imports ``sine.py``, which calls
   ``torch.autograd.set_detect_anomaly(True)`` for the whole process (~1.6x slower steps):
   ``import_sequential_models()`` switches it back off.
4. torch >= 2.6 refuses RecBole's pickled checkpoints (``weights_only=True``): this project
   never uses RecBole's Trainer checkpoints; the best state is kept in memory as a
   ``state_dict`` copy.
5. RecBole 1.2.1 calls pandas APIs deprecated in pandas 2 (FutureWarning on every
   dataset build): muted for RecBole's modules only.
6. RecBole's ``Config`` parses ``sys.argv`` itself (and warns about every argument it does
   not know): ``recbole_config`` builds it with an empty command line.
7. RecBole's Trainer and ``init_logger`` write ``log/``, ``log_tensorboard/`` and ``saved/``
   into the working directory: this project uses neither; ``data_path`` points into the
   manifest's folder in the cache and ``checkpoint_dir`` to a fresh private folder per fit
   (RecBole unpickles a dataset file it finds there).
"""

from __future__ import annotations

import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import torch

_NUMPY_ALIASES = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}


def patch() -> None:
    """Apply the numpy aliases RecBole needs and mute its pandas deprecation noise."""
    for name, value in _NUMPY_ALIASES.items():
        if not hasattr(np, name):
            setattr(np, name, value)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")


def import_sequential_models() -> ModuleType:
    """``recbole.model.sequential_recommender`` with anomaly detection left off."""
    patch()
    was_enabled = torch.is_anomaly_enabled()
    import recbole.model.sequential_recommender as models

    torch.autograd.set_detect_anomaly(was_enabled)
    return models


def recbole_config(model: str, dataset: str, config_dict: dict[str, Any]) -> Any:
    """RecBole ``Config`` from ``config_dict`` only, never from the process's command line."""
    patch()
    from recbole.config import Config

    saved = sys.argv
    sys.argv = saved[:1]
    try:
        return Config(model=model, dataset=dataset, config_dict=config_dict)
    finally:
        sys.argv = saved
