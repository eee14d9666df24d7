"""Kaggle credentials and calls through the official client, with secrets kept out of every message.

`import kaggle` authenticates at import time, so credentials are put in the
environment first: from env vars (KAGGLE_API_TOKEN, or KAGGLE_USERNAME + KAGGLE_KEY),
a kaggle.json / access_token file in KAGGLE_CONFIG_DIR or ~/.kaggle, or, inside a Kaggle
notebook, Kaggle Secrets of the same names.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import T2SQLError

SECRET_NAMES = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY")
MIN_KAGGLE = "2.2.1"  # dataset_status(format=...) came in 2.1.1, quota_view in 2.2.1 (kaggle-api changelog)


class CredentialsError(T2SQLError):
    pass


class Forbidden(CredentialsError):
    """HTTP 403. Kaggle answers it for another user's private dataset, but also for one that does not exist
    (push-kaggle-dataset#14) or was created seconds ago and is not visible yet (observed live, 2026)."""


def how_to() -> str:
    """What to add, worded for where we run: a Kaggle notebook has Secrets, elsewhere the environment."""
    from .env import on_kaggle

    if on_kaggle():
        return ("in the notebook editor, Add-ons > Secrets: add a secret named KAGGLE_API_TOKEN (your token from "
                "kaggle.com > Settings > API > Create New Token) and attach it to this notebook, then run it again")
    return ("export KAGGLE_API_TOKEN (kaggle.com > Settings > API > Create New Token), or KAGGLE_USERNAME and "
            "KAGGLE_KEY, or put kaggle.json in ~/.kaggle (chmod 600)")


def check_client() -> str:
    """The installed `kaggle` client, or T2SQLError naming the version needed and how to get it.

    Kaggle's image only promises kaggle>=1.8.3 (docker-python kaggle_requirements.txt) and its
    Colab base ships 2.0.2, so this is checked at session start rather than assumed; the
    wheel dataset carries a newer client. Read from package metadata: importing `kaggle`
    would authenticate.
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    try:
        installed = version("kaggle")
    except PackageNotFoundError:
        raise T2SQLError(f"the kaggle client is not installed: pip install 'kaggle>={MIN_KAGGLE}'") from None
    if Version(installed) < Version(MIN_KAGGLE):
        raise T2SQLError(f"kaggle {installed} is too old (need >= {MIN_KAGGLE} for dataset_status(format=...) and "
                         f"quota_view): pip install -U 'kaggle>={MIN_KAGGLE}' (or attach the wheel dataset made by "
                         "`kaggle-t2sql publish-wheel --with-deps`, which carries it)")
    return installed


def config_dirs() -> list[Path]:
    """Where the client looks for kaggle.json / access_token (it reads ~/.kaggle whatever KAGGLE_CONFIG_DIR says)."""
    dirs = [Path(os.environ["KAGGLE_CONFIG_DIR"])] if os.environ.get("KAGGLE_CONFIG_DIR") else []
    return dirs + [Path.home() / ".kaggle", Path.home() / ".config" / "kaggle"]


def load_notebook_secrets(names: tuple[str, ...] = SECRET_NAMES) -> list[str]:
    """Copy Kaggle Secrets into the environment (names only are returned, never values)."""
    try:
        from kaggle_secrets import UserSecretsClient  # only exists inside Kaggle notebooks

        client = UserSecretsClient()  # may raise when the notebook has no secrets attached
    except Exception:  # noqa: BLE001 - no secrets here: credentials must come from elsewhere
        return []
    loaded = []
    for name in names:
        if os.environ.get(name):
            continue
        try:
            value = client.get_secret(name)
        except Exception:  # noqa: BLE001 - a secret that is not attached is simply absent
            continue
        if value:
            os.environ[name] = value
            loaded.append(name)
    return loaded


def credentials_source() -> str | None:
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for folder in config_dirs():
        for name in ("access_token", "kaggle.json"):
            if (folder / name).is_file():
                return str(folder / name)
    return None


def secret_values() -> list[str]:
    values = [os.environ[n] for n in ("KAGGLE_API_TOKEN", "KAGGLE_KEY") if os.environ.get(n)]
    for path in (folder / name for folder in config_dirs() for name in ("access_token", "kaggle.json")):
        if path.is_file():
            text = path.read_text(errors="ignore")
            values.append(text.strip())
            if path.name == "kaggle.json":
                import json

                try:
                    values.append(str(json.loads(text).get("key", "")))
                except ValueError:
                    pass
    return [v for v in values if len(v) >= 8]


def redact(text: str) -> str:
    """Replace every known secret value in text (for exception messages and logs)."""
    for value in secret_values():
        text = text.replace(value, "***")
    return text


def kaggle_api():
    """An authenticated KaggleApi, or CredentialsError saying how to add credentials."""
    load_notebook_secrets()
    if credentials_source() is None:
        raise CredentialsError(f"no Kaggle credentials found: {how_to()}")
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi  # imports `kaggle`, which authenticates

        api = KaggleApi()
        api.authenticate()
        # downloads print "Dataset URL: ..." unconditionally (kaggle 2.2.4); our callers report what they did
        api._print_dataset_url_and_license = lambda *args, **kwargs: None
    except (SystemExit, Exception) as exc:  # noqa: BLE001 - on a rejected token the client calls exit(1), which is
        # itself a NameError inside a Jupyter kernel (no `exit` builtin there): any failure here means unusable credentials
        raise CredentialsError(f"Kaggle credentials could not be used ({redact(str(exc))}): {how_to()}") from None
    return api


def kaggle_call(fn, *args, **kwargs):
    """Call a KaggleApi method: 401 -> CredentialsError, 403 -> Forbidden, 404 -> LookupError, secrets redacted."""
    from requests import HTTPError

    try:
        return fn(*args, **kwargs)
    except HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else None
        if code == 401:
            raise CredentialsError(f"Kaggle rejected the credentials (HTTP 401): {how_to()}") from None
        if code == 403:
            raise Forbidden("Kaggle refused access (HTTP 403): the dataset or kernel does not exist (yet), or the "
                            "credentials do not own it") from None
        if code == 404:
            raise LookupError(redact(str(exc))) from None
        raise T2SQLError(f"Kaggle API call {getattr(fn, '__name__', fn)} failed: {redact(str(exc))}") from None
