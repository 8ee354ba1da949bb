"""Training: collocation points, losses, optimizers, the loop, checkpoints, torchrun."""
