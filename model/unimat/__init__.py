"""UniMat (Yang et al. 2023): crystals as a periodic-table tensor, denoised by a 3D U-Net.

Beside :mod:`genflow.model.structrepdiff` and :mod:`genflow.model.random_search`; what both
checkpoint models share (element table, diffusion maths, train state, sharding, the training
loop, data loading, the checkpoint registry) lives in :mod:`genflow.model` proper.

* ``representation``: the (L, H, W, 3) tensor, encode/decode, ``encode_dataset``.
* ``augment``: atom permutation and translation of that tensor.
* ``unet``, ``network``: the 3D U-Net and the model's conditioning/normalisation around it.
* ``sampler``: the ancestral sampler with classifier-free guidance.
* ``generator``: :class:`~genflow.model.unimat.generator.Generator`, built by
  :func:`genflow.model.load_generator` for a UniMat checkpoint.
* ``train``: UniMat's hooks for :func:`genflow.model.train.main`.

Submodules load JAX and Flax; import them directly.
"""

__all__: list[str] = []
