"""Training: the Trainer and its loop (a generator of events), the step, optimizers, the LR
schedule, checkpoints, the memory check, devices and several ranks under torchrun."""
