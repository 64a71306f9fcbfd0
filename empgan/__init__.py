"""empgan: EMP-GAN (Projected GAN + multi-view EMP-SSL) training, Ray Tune sweeps, MLflow tracking, report tables."""

import os

# PyTorch's CPU allocator backs large tensors with transparent huge pages when this is set (read
# once, at torch's first allocation, so it is set before anything imports torch). Without it every
# training step on CPU takes millions of 4 KiB page faults on freshly mapped activations (3M per
# step at 64 px, patch 8: a third of the step). Set THP_MEM_ALLOC_ENABLE=0 to turn it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
