"""Which org, and how to sign in: a Genesys API client from the environment (`GENESYS_CLIENT_ID`,
`GENESYS_CLIENT_SECRET` or `GENESYS_CLIENT_SECRET_FILE`, `GENESYS_REGION`, `GENESYS_API_URL`,
`GENESYS_LOGIN_URL`) and flags, for `decision genesys pull` and the service's refresh alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from decision.genesys.api import Credentials, GenesysApi
from decision.genesys.regions import RegionError, hosts


class ConfigError(ValueError):
    """Settings that cannot make a client: one line, exit 2."""


def genesys_api(
    env: Mapping[str, str],
    client_id: str = "",
    client_secret_file: str = "",
    region: str = "",
    api_url: str = "",
    login_url: str = "",
    rate: float = 3.0,
) -> tuple[GenesysApi, str]:
    """The client the flags (the arguments) and the environment (`GENESYS_*`) describe, and the
    region it names. The secret only ever comes from the environment or a file."""
    client_id = client_id or env.get("GENESYS_CLIENT_ID", "")
    if not client_id:
        raise ConfigError("no OAuth client: set GENESYS_CLIENT_ID")
    secret = env.get("GENESYS_CLIENT_SECRET", "")
    secret_file = client_secret_file or env.get("GENESYS_CLIENT_SECRET_FILE", "")
    if secret_file:
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(
                f"cannot read the client secret file {secret_file}: {reason}"
            ) from None
    if not secret:
        raise ConfigError(
            "no client secret: set GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_FILE "
            "(never a flag: the command line is visible to every user of the machine)"
        )
    region = region or env.get("GENESYS_REGION", "")
    api_url = api_url or env.get("GENESYS_API_URL", "")
    login_url = login_url or env.get("GENESYS_LOGIN_URL", "")
    if region:
        try:
            region_api, region_login = hosts(region)
        except RegionError as error:
            raise ConfigError(str(error)) from None
        api_url, login_url = api_url or region_api, login_url or region_login
    elif not (api_url and login_url):
        raise ConfigError(
            "no region: set GENESYS_REGION (e.g. eu_west_1 or mypurecloud.ie), or both "
            "--api-url and --login-url"
        )
    for flag, url in (("--api-url", api_url), ("--login-url", login_url)):
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{flag}: {url!r} is not an http(s) URL")
    api = GenesysApi(api_url, login_url, Credentials(client_id, secret), rate=rate)
    return api, region or api_url
