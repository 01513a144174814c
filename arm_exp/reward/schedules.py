"""Learning-rate schedules for reward-model training (``train.scheduler``).

:func:`constant_with_warmup` is the schedule ARMAP trains with (Hugging Face's
``constant_with_warmup``): linear warmup from 0, then constant. Ours, so a config check (which
imports each ``_target_``) does not import ``transformers.optimization``, which pulls in the
Trainer's whole stack (~5 s); ``tests/unit/test_reward_budget.py`` pins it step by step against
``transformers.get_constant_schedule_with_warmup``.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def constant_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """The learning rate rises linearly from 0 over ``num_warmup_steps`` optimizer steps, then
    stays at the optimizer's own."""

    def factor(step: int) -> float:
        if step < num_warmup_steps:
            return float(step) / float(max(1.0, num_warmup_steps))
        return 1.0

    return LambdaLR(optimizer, factor, last_epoch=last_epoch)
