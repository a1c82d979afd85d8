"""Rounds' runtime settings: `flet.toml`, overridden by ROUNDS_<NAME> environment variables."""

import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def config_path() -> Path:
    """The configuration file: ROUNDS_CONFIG, else `flet.toml` in the working directory."""
    return Path(os.environ.get("ROUNDS_CONFIG", "flet.toml"))


class Settings(BaseSettings):
    """Everything Rounds reads at start-up. Flet's own runtime reads none of it."""

    model_config = SettingsConfigDict(env_prefix="ROUNDS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8550
    database_url: str = "sqlite:///var/rounds.db"
    secret_file: Path = Path("var/rounds-secret.key")
    ward_timezone: str = "America/Chicago"
    idle_lock_minutes: float = 3
    idle_sign_out_minutes: float = 30
    session_max_minutes: float = 720
    tls_certfile: str = ""
    tls_keyfile: str = ""

    @field_validator("ward_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown IANA time zone {value!r}") from error
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then ROUNDS_* variables, then the TOML file.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return (init_settings, env_settings, toml)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
