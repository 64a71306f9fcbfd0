"""EMP-GAN model: FastGAN-lite generator, projected discriminator, multi-view views, EMP projector, losses."""

from empgan.model.empgan import EMPGAN
from empgan.model.generator import Generator

__all__ = ["EMPGAN", "Generator"]
