"""The data path: image files of any kind -> an in-memory uint8 ImageSet at the training resolution."""

from empgan.data.image_set import ImageSet
from empgan.data.load import load_image_set
from empgan.data.prepare import PrepareSummary, prepare_dataset

__all__ = ["ImageSet", "PrepareSummary", "load_image_set", "prepare_dataset"]
