"""Kaggle credentials and calls through the official client, with secrets kept out of every message.

`import kaggle` authenticates at import time, so credentials are put in the
environment first: from env vars (KAGGLE_API_TOKEN, or KAGGLE_USERNAME + KAGGLE_KEY),
a kaggle.json / access_token file in KAGGLE_CONFIG_DIR or ~/.kaggle, or, inside a Kaggle
notebook, Kaggle Secrets of the same names.

Inside a notebook Kaggle puts its own token in a file named by KAGGLE_API_V1_TOKEN, and
kagglesdk 0.1.37 prefers it to everything else (`kaggle_env.get_access_token_from_env`:
when KAGGLE_KERNEL_RUN_TYPE and KAGGLE_DATA_PROXY_URL are set; `KaggleApi.authenticate`
tries it first, and `KaggleHttpClient._try_fill_auth` puts it on every request even of a
client built from username and key). What that token may do is undocumented, so every
call of this package is made as the user: `kaggle_api()` takes the user's credentials,
then removes KAGGLE_API_V1_TOKEN from this process's environment (kagglesdk reads it at
each client build), so neither the client nor a subprocess sees it again.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import T2SQLError

SECRET_NAMES = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY")
NOTEBOOK_TOKEN_ENV = "KAGGLE_API_V1_TOKEN"  # kagglesdk kaggle_env.KAGGLE_API_V1_TOKEN_PATH: a file holding a token
OAUTH_CREDENTIALS = "~/.kaggle/credentials.json"  # kagglesdk kaggle_creds.KaggleCredentials.DEFAULT_CREDENTIALS_FILE
_secrets_problem: list[str] = []  # why Kaggle Secrets gave nothing (the last reason; never a value)
_remembered_notebook_token: list[str] = []  # kept in memory only, so redact() still hides it once dropped
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
        why = f" (Kaggle Secrets said: {_secrets_problem[-1]})" if _secrets_problem else ""
        return ("in the notebook editor, Add-ons > Secrets: add a secret named KAGGLE_API_TOKEN (your token from "
                "kaggle.com > Settings > API > Create New Token) and attach it to this notebook (tick it there: a "
                f"secret of your account is not attached by itself), then run it again{why}. Kaggle's own notebook "
                "token is not used: what it may do is undocumented")
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
    """Copy Kaggle Secrets into the environment (names only are returned, never values).

    Why nothing came is kept for how_to(): an unattached secret answers "No user secrets
    exist for kernel id ..." (docker-python kaggle_secrets; ARCHITECTURE "More facts")."""
    try:
        from kaggle_secrets import UserSecretsClient  # only exists inside Kaggle notebooks
    except Exception:  # noqa: BLE001 - not in a Kaggle notebook: credentials must come from elsewhere
        return []
    try:
        client = UserSecretsClient()  # may raise when the notebook has no secrets attached
    except Exception as exc:  # noqa: BLE001
        _secrets_problem.append(_short(exc))
        return []
    loaded = []
    for name in names:
        if os.environ.get(name):
            continue
        try:
            value = client.get_secret(name)
        except Exception as exc:  # noqa: BLE001 - a secret that is not attached is simply absent
            if name == "KAGGLE_API_TOKEN":
                _secrets_problem.append(_short(exc))
            continue
        if value:
            os.environ[name] = value
            loaded.append(name)
    return loaded


def _short(exc: BaseException) -> str:
    return redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]


def in_notebook() -> bool:
    """kagglesdk's own test (kaggle_env.is_in_kaggle_notebook): both variables set."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE") is not None and os.environ.get("KAGGLE_DATA_PROXY_URL") is not None)


def notebook_token() -> str | None:
    """Kaggle's own notebook token, as kagglesdk would read it (None outside a notebook or when not set)."""
    path = os.environ.get(NOTEBOOK_TOKEN_ENV)
    if not in_notebook() or not path or not Path(path).is_file():
        return None
    return Path(path).read_text(errors="ignore").strip() or None


def credentials_source() -> str | None:
    """The user's credentials, in the pinned client's order (kaggle 2.2.4 `authenticate`: access token,
    then legacy key, then OAuth credentials); Kaggle's notebook token is not the user's and is left out."""
    token = os.environ.get("KAGGLE_API_TOKEN")
    if token:
        return f"KAGGLE_API_TOKEN (file {token})" if Path(token).is_file() else "KAGGLE_API_TOKEN"
    for name in ("access_token", "access_token.txt"):  # kagglesdk reads ~/.kaggle only
        if (Path.home() / ".kaggle" / name).is_file():
            return str(Path.home() / ".kaggle" / name)
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    for folder in config_dirs():
        for name in ("access_token", "kaggle.json"):
            if (folder / name).is_file():
                return str(folder / name)
    if Path(OAUTH_CREDENTIALS).expanduser().is_file():
        return f"{OAUTH_CREDENTIALS} (kaggle auth login)"
    return None


def use_user_credentials() -> None:
    """From now on the client (and any subprocess) cannot pick Kaggle's notebook token over the user's."""
    os.environ.pop(NOTEBOOK_TOKEN_ENV, None)


def secret_values() -> list[str]:
    values = [os.environ[n] for n in ("KAGGLE_API_TOKEN", "KAGGLE_KEY") if os.environ.get(n)]
    values += [t for t in (notebook_token(), *_remembered_notebook_token) if t]
    token_file = Path(os.environ.get("KAGGLE_API_TOKEN") or "/nonexistent")
    if token_file.is_file():  # KAGGLE_API_TOKEN may name a file holding the token (kagglesdk 0.1.37)
        values.append(token_file.read_text(errors="ignore").strip())
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
    """An authenticated KaggleApi acting as the user, or CredentialsError saying how to add credentials."""
    load_notebook_secrets()
    if credentials_source() is None:
        raise CredentialsError(f"no Kaggle credentials found: {how_to()}")
    token = notebook_token()
    if token and token not in _remembered_notebook_token:
        _remembered_notebook_token.append(token)
    use_user_credentials()
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


RATE_LIMIT_RETRIES = 10  # what kaggle 2.2.4's own with_retry allows (it wraps uploads and dataset creation only)
MAX_RETRY_AFTER_S = 120.0


def _retry_after(response) -> float:
    """Seconds the server asked for (Retry-After: seconds, or an HTTP date), else 2 s; capped."""
    from email.utils import parsedate_to_datetime

    value = (getattr(response, "headers", None) or {}).get("Retry-After", "")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            import time as _time

            seconds = parsedate_to_datetime(value).timestamp() - _time.time()
        except (TypeError, ValueError):
            seconds = 2.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def kaggle_call(fn, *args, **kwargs):
    """Call a KaggleApi method: 429 -> retried after Retry-After (the client itself retries only some calls),
    401 -> CredentialsError, 403 -> Forbidden, 404 -> LookupError, secrets redacted."""
    import time

    from requests import HTTPError

    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            return fn(*args, **kwargs)
        except HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else None
            if code == 429 and attempt < RATE_LIMIT_RETRIES:
                time.sleep(_retry_after(exc.response))
                continue
            _raise_for(fn, exc, code)


def _raise_for(fn, exc, code) -> None:
    if code == 401:
        raise CredentialsError(f"Kaggle rejected the credentials (HTTP 401): {how_to()}") from None
    if code == 403:
        raise Forbidden(f"Kaggle refused access (HTTP 403: {redact(str(exc))[:200]}): the dataset or kernel does "
                        "not exist (yet), or the credentials do not own it") from None
    if code == 404:
        raise LookupError(redact(str(exc))) from None
    raise T2SQLError(f"Kaggle API call {getattr(fn, '__name__', fn)} failed: {redact(str(exc))}") from None


def account(api) -> str | None:
    """The username the client authenticated as."""
    return (getattr(api, "config_values", {}) or {}).get("username")


def other_owner(api, ref: str) -> str | None:
    """Why a 403 on `ref` is not "does not exist yet": the dataset is under another account's name (None when
    it is under ours, where Kaggle's 403 means missing, not visible yet, or a first version still processing)."""
    me, owner = account(api), ref.split("/")[0]
    if me and owner != me:
        return (f"{ref} belongs to the account {owner!r}, but the Kaggle credentials are {me!r}'s: use your own "
                f"username in the store (kaggle:{me}/<slug>), or that account's credentials")
    return None
