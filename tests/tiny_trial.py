"""The smallest real trial config of the tests (imported by test modules: `from tiny_trial import TINY_TRIAL`)."""

# The smallest real EMP-GAN trial: builtin digits at 32 px, EMP on with 2 views and ADA strength 1,
# a narrow generator, EfficientNet at native size, 64 FID samples against 128 real images.
# 0.064 kimg = 8 iterations of batch 8; milestones after 4 and 8 iterations.
TINY_TRIAL = {
    "data": "builtin:digits",
    "resolution": 32,
    "batch": 8,
    "total_kimg": 0.064,
    "milestones_kimg": [0.032, 0.064],
    "tick_kimg": 0.032,
    "emp": True,
    "patch_num": 2,
    "prob": 1,
    "len": 16,
    "pretrained": False,
    "fid_samples": 64,
    "device": "cpu",
    "model": {"ngf": 8, "feature_resize": 0},
    "emp_loss": {"hidden": 64},
    "divergence": {"fid_ceiling": 10000.0},   # an 8-iteration generator is far from the data (FID ~500)
    "eval": {"allow_few_fid_samples": True, "fid_real_images": 128, "fid_batch": 64, "grid_rows": 2, "grid_cols": 2},
}
