"""Site settings for genflow, read the way atomate2 reads its own.

Values come from (highest priority first) ``GENFLOW_*`` environment variables, a YAML file
named by ``GENFLOW_CONFIG_FILE`` (default ``~/.genflow.yaml``), then the defaults below.
Model hyperparameters do not live here: they live in ``genflow.model.configs``.

>>> from genflow.core.settings import GenflowSettings
>>> GenflowSettings(HIT_THRESHOLD=-0.01).HIT_THRESHOLD
-0.01
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_CONFIG_FILE", "GenflowSettings", "get_settings"]

DEFAULT_CONFIG_FILE = Path("~/.genflow.yaml").expanduser()


class GenflowSettings(BaseSettings):
    """Settings for a genflow installation (database, data paths, thresholds)."""

    CONFIG_FILE: Path = Field(
        DEFAULT_CONFIG_FILE, description="YAML file with settings; env vars override it."
    )
    DB_URI: str | None = Field(
        None,
        description="MongoDB URI of the production store, e.g. mongodb://user:pw@host/genflow. "
        "None starts (or reuses) the embedded SecantusDB server under DATA_DIR.",
    )
    DB_NAME: str = Field("genflow", description="Database name for candidates, jobs and FireWorks.")
    DATA_DIR: Path = Field(
        Path(platformdirs.user_data_dir("genflow")),
        description="Per-user data directory: embedded database files, logs, run directories.",
    )
    DB_TIMEOUT_S: float = Field(
        8.0,
        gt=0,
        description="Seconds a command waits for an unreachable database before it fails with "
        "one line naming the URI (pymongo serverSelectionTimeoutMS/connectTimeoutMS of the "
        "first contact). Running campaign jobs retry outages with back-off instead.",
    )
    LEASE_HEARTBEAT_S: float = Field(
        15.0,
        gt=0,
        description="Seconds between heartbeats of a local campaign run's lease (one runner "
        "per campaign: genflow.campaign.lease).",
    )
    LEASE_MISSED_BEATS: int = Field(
        4,
        ge=2,
        description="Heartbeats a lease may miss before it counts as interrupted and the next "
        "`campaign run` takes it over (expiry = LEASE_HEARTBEAT_S x this; keep it longer "
        "than a database outage or clock skew between hosts).",
    )
    EMBEDDED_PORT: int = Field(
        27417, description="Port of the embedded SecantusDB server on 127.0.0.1."
    )
    GNOME_SUMMARY_PATH: Path | None = Field(
        None,
        description="Path to GNoME's stable_materials_summary.csv (downloaded by the user); "
        "the `gnome` hull loads it.",
    )
    GNOME_EXTERNAL_SUMMARY_PATH: Path | None = Field(
        None, description="Optional GNoME external_materials_summary.csv merged into `gnome`."
    )
    MP_API_KEY: str | None = Field(None, description="Materials Project API key for mp-api hulls.")
    HIT_THRESHOLD: float = Field(
        0.0, description="E_d (eV/atom) below which a scored candidate is recorded as a hit."
    )

    MAX_INPUT_MB: float = Field(
        512.0,
        gt=0,
        description="Largest input file (MiB) genflow reads as structures; a larger one is a "
        "row `unreadable file: ... over the limit`, never a crash or a swapped-out node.",
    )
    IMPLAUSIBLE_E_D: float = Field(
        -1.0,
        description="E_d (eV/atom) below which a score is implausible (a unit or sign slip, a "
        "broken calculation): `genflow hull score` scores it, marks it `implausible` and never "
        "counts it as stable or metastable.",
    )

    model_config = SettingsConfigDict(env_prefix="GENFLOW_", extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def load_default_settings(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Merge values from the YAML config file below explicit values and env vars."""
        import os

        import yaml

        config_file = Path(
            values.get("CONFIG_FILE") or os.environ.get("GENFLOW_CONFIG_FILE", DEFAULT_CONFIG_FILE)
        ).expanduser()
        new_values: dict[str, Any] = {}
        if config_file.exists() and config_file.stat().st_size > 0:
            loaded = yaml.safe_load(config_file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{config_file}: expected a mapping of settings, got {loaded!r}")
            new_values.update({k.upper(): v for k, v in loaded.items()})
        new_values.update(values)
        return new_values


def get_settings(**overrides: Any) -> GenflowSettings:
    """Return settings, fresh from env/YAML each call (cheap; keeps tests isolated)."""
    return GenflowSettings(**overrides)
