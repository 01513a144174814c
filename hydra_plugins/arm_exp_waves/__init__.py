"""arm-exp's Hydra sweeper (``hydra/sweeper=arm_exp_waves``, the default of every arm-exp
command): :class:`~hydra_plugins.arm_exp_waves.waves_sweeper.WavesSweeper`. Hydra finds sweepers
only in the ``hydra_plugins`` namespace package; the logic lives in :mod:`arm_exp`."""
