"""Training, one package: every shipped part's trainer, their options, and the recipe that runs them.

``denoiser`` (stage 1 and stage 2, one process or torchrun DDP), ``head`` (the head stage),
``closure`` (the closure stage), ``text_head`` (free text -> controls), ``options`` (the command
lines, torch-free so ``cafetalk --help`` stays light).
"""
