"""Training state: parameters, optimizer state, EMA parameters and the step, as one pytree.

Follows vdm's ``train_state.py``: a ``flax.struct`` dataclass, so it passes through ``jax.jit``,
shards with ``NamedSharding`` and saves with orbax as a plain pytree.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

__all__ = ["TrainState", "ema_decay_at", "make_optimizer"]


def make_optimizer(*, lr: float, b1: float, b2: float, eps: float = 1e-8, grad_clip: float = 0.0):
    """Adam (no weight decay), optionally after global-norm gradient clipping (0 = off)."""
    adam = optax.adam(learning_rate=lr, b1=b1, b2=b2, eps=eps)
    return optax.chain(optax.clip_by_global_norm(grad_clip), adam) if grad_clip > 0 else adam


def ema_decay_at(step: jax.Array, *, decay: float, warmup: bool = True) -> jax.Array:
    """EMA decay at ``step``: ``min(decay, (1 + step) / (10 + step))`` with warm-up.

    The warm-up (the TF ``ExponentialMovingAverage(num_updates=...)`` rule) keeps short runs
    usable: with a fixed 0.9999 a few-thousand-step CPU run would keep its EMA at the
    initialisation. For long runs it converges to ``decay`` (the paper's 0.9999).
    """
    step = jnp.asarray(step, jnp.float32)
    if not warmup:
        return jnp.asarray(decay, jnp.float32)
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


class TrainState(flax.struct.PyTreeNode):
    """One training state.

    Attributes
    ----------
    step
        Number of optimizer updates applied (int32 scalar).
    params, ema_params
        Model parameters and their exponential moving average (used for sampling).
    opt_state
        optax state.
    rng
        Base PRNG key of the run; step ``i`` uses ``fold_in(rng, i)`` so a resumed run draws
        the same numbers as an uninterrupted one.
    """

    step: jax.Array
    params: Any
    ema_params: Any
    opt_state: Any
    rng: jax.Array
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    ema_decay: float = flax.struct.field(pytree_node=False, default=0.9999)

    @classmethod
    def create(
        cls, *, params: Any, tx: optax.GradientTransformation, rng: jax.Array, ema_decay: float
    ) -> TrainState:
        """Fresh state at step 0 with EMA params equal to ``params``."""
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=params,
            ema_params=jax.tree.map(jnp.copy, params),
            opt_state=tx.init(params),
            rng=rng,
            tx=tx,
            ema_decay=ema_decay,
        )

    def apply_gradients(self, *, grads: Any) -> TrainState:
        """Adam update, then EMA update with the warm-up decay."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        d = ema_decay_at(self.step, decay=self.ema_decay)
        ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, self.ema_params, params)
        return self.replace(step=self.step + 1, params=params, ema_params=ema, opt_state=opt_state)

    def to_saveable(self) -> dict[str, Any]:
        """The arrays to checkpoint (everything except the static optimizer definition)."""
        return {
            "step": self.step,
            "params": self.params,
            "ema_params": self.ema_params,
            "opt_state": self.opt_state,
            "rng": jax.random.key_data(self.rng),
        }

    def from_saveable(self, d: dict[str, Any]) -> TrainState:
        """Inverse of :meth:`to_saveable` (``self`` supplies the static fields)."""
        return self.replace(
            step=jnp.asarray(d["step"], jnp.int32),
            params=d["params"],
            ema_params=d["ema_params"],
            opt_state=d["opt_state"],
            rng=jax.random.wrap_key_data(d["rng"]),
        )
