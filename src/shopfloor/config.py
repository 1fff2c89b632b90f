"""Settings, read once from the environment (prefix ``SHOPFLOOR_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPFLOOR_", extra="ignore")

    data_dir: Path = Path("./shopfloor-data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default an SQLite file in the data directory.",
    )
    bus_url: str = "memory://"
    # A delivery its consumer neither acknowledged nor failed for this long (the worker died)
    # goes to another consumer of the group.
    bus_visibility_timeout_s: float = 30.0
    secret_key: str | None = None
    auto_register: bool = False
    demo: bool = False

    log_level: str = "INFO"
    log_json: bool = True

    # Ingest limits: a request over either is refused whole with 413.
    max_readings_per_request: int = 100_000
    max_body_bytes: int = 32 * 1024 * 1024

    # Outbox rows older than this that no live process published (it crashed) are published by
    # whichever process looks next.
    outbox_recover_after_s: float = 10.0

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_security: str = "none"
    smtp_from: str = "shopfloor@localhost"

    # The detector of sensors that name none (``shopfloor.detection.registry``).
    default_detector: str = "seasonal"
    detector_checkpoint_s: float = Field(default=30.0, gt=0)

    # How often timed alarm changes are checked, and how long a resolved alarm stays resolved.
    alarm_tick_s: float = Field(default=1.0, gt=0)
    alarm_close_after_s: float = Field(default=3600.0, ge=0)

    # Links in notifications point here; failed deliveries back off 1 s, 2 s, 4 s … capped.
    public_url: str = "http://127.0.0.1:8000"
    notify_max_attempts: int = Field(default=6, ge=1)
    notify_retry_base_s: float = Field(default=1.0, gt=0)
    notify_retry_max_s: float = Field(default=300.0, gt=0)

    # Sign-in: access tokens live minutes, refresh tokens days (rotated on every use); five
    # failed sign-ins lock the user, and the address they came from, for a quarter of an hour.
    access_token_ttl_s: int = Field(default=900, gt=0)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, gt=0)
    lockout_failures: int = Field(default=5, ge=1)
    lockout_s: int = Field(default=900, gt=0)
    # Requests to the sign-in endpoints per source address (``limits`` notation).
    auth_rate_limit: str = "60/minute"
    # Origins allowed to call the API from a browser; empty: no CORS headers at all.
    cors_origins: list[str] = Field(default_factory=list)

    mqtt_url: str | None = None
    mqtt_topic_prefix: str = "shopfloor/v1"
    # Connectors (MQTT, OPC-UA) from a TOML file, in addition to MQTT_URL and those defined
    # through the API. ``serve`` and ``worker`` run them unless this is off; each connector
    # runs in one process at a time (the first to claim it).
    connectors_file: Path | None = None
    run_connectors: bool = True

    # The model registry: a remote MLflow tracking server, or (unset) an embedded one in the
    # data directory.
    mlflow_url: str | None = None
    # Where the stages run: each asset whose attributes name models gets its health worked out
    # again at most this often as its readings arrive, and a failure risk at or above the
    # threshold raises a failure_risk alarm (None: only failure_risk rules raise them).
    health_every_s: float = Field(default=5.0, gt=0)
    failure_risk_threshold: float | None = Field(default=0.5, gt=0, lt=1)
    # Drift of each model's live inputs against its training reference, checked this often
    # (0: never); a drift alarm may retrain the model from stored readings.
    drift_check_every_s: float = Field(default=3600.0, ge=0)
    retrain_on_drift: bool = False
    # An Open Inference Protocol server (MLServer, Triton) serving each model version as
    # ``<name>`` version ``<version>``; unset: models run in process. When it fails or is slow,
    # predictions fall back to the in-process model behind a circuit breaker.
    model_serving_url: str | None = None
    model_serving_timeout_s: float = Field(default=1.0, gt=0)

    @field_validator("smtp_security")
    @classmethod
    def _smtp_security(cls, value: str) -> str:
        if value not in {"none", "starttls", "tls"}:
            raise ValueError("must be one of none, starttls, tls")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'shopfloor.db').resolve()}"

    @property
    def is_embedded_database(self) -> bool:
        """True when the database is the default SQLite file of the data directory."""
        return self.database_url is None or self.database_url.startswith("sqlite")
