"""All configuration in one object; every field is also an environment variable CITYCSE_<NAME>."""

from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_db_url() -> str:
    return f"sqlite+aiosqlite:///{Path('citycse-data').resolve() / 'citycse.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYCSE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = Field(default_factory=default_db_url)
    cse_id: str = "id-in"
    cse_rn: str = "cse-in"
    sp_id: str = "citycse.example"
    admin_originator: str = "CAdmin"
    workers: int = 1
    log_level: str = "info"
    expiry_sweep_seconds: float = 1.0
    # how long a policy change made through one worker may take to reach the others
    acp_cache_seconds: float = 1.0
    db_pool_size: int = 16
    # objects allocated between two youngest-generation collections (0: Python's defaults)
    gc_gen0_threshold: int = 50_000
    notification_timeout_seconds: float = 5.0
    notification_retry_seconds: float = 600.0
    notification_backoff_max_seconds: float = 30.0
    notification_retention_seconds: float = 86400.0
    polling_channel_timeout_seconds: float = 30.0
    mqtt: str | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_ca_file: str | None = None
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    mqtt_tls_insecure: bool = False
    mqtt_share_group: str = "citycse"
    mqtt_client_id: str | None = None
    # OCPP adapter (ocpp_adapter/): started inside the CSE process when ocpp_port is set
    ocpp_port: int | None = None
    ocpp_host: str = "127.0.0.1"
    ocpp_path: str = "/ocpp"
    ocpp_unknown_chargers: str = "pending"
    ocpp_min_balance: Decimal = Decimal("1.00")
    ocpp_heartbeat_seconds: int = 300
    ocpp_tls_cert: str | None = None
    ocpp_tls_key: str | None = None
    ocpp_command_max_age_seconds: float = 60.0
    ocpp_response_timeout_seconds: float = 30.0
    ocpp_overload_policy: str = "block"  # grid overload: "block" new sessions or "limit" power

    @property
    def csi(self) -> str:
        """The SP-relative CSE-ID, e.g. `/id-in`."""
        return "/" + self.cse_id.lstrip("/")
