"""The uploader's Numerai keys: present, accepted, allowed to upload, and owning the mapped models.

Keys are found as the uploader finds them (:func:`numeraud.numerai.credentials.load_keys`: systemd
credentials, ``NUMERAI_PUBLIC_ID``/``NUMERAI_SECRET_KEY``, or the ``public_id_file`` and
``secret_key_file`` options). Run by hand, the doctor has no ``$CREDENTIALS_DIRECTORY``; it then
also reads the files that systemd/README.md installs for ``LoadCredential=``
(``/etc/numeraud/credentials``) when it can. The secret key is never shown.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from numeraud.cli.doctor.base import TIMEOUT, UPLOADER_CLASS, CheckResult, Doctor, Status, failed, passed, skipped
from numeraud.common.config import HandlerConfig
from numeraud.numerai.credentials import CredentialsError, NumeraiKeys, load_keys

#: Where systemd/README.md puts the credential files that ``LoadCredential=`` hands the uploader.
CREDENTIALS_SOURCE: Final = Path("/etc/numeraud/credentials")
UPLOAD_SCOPE: Final = "upload_submission"
NEW_KEY: Final = "create an API key with the upload_submission scope at https://numer.ai/account (API keys)"


def uploaders(doctor: Doctor) -> list[HandlerConfig]:
    """The ``[handlers.*]`` tables that run the bundled uploader."""
    if doctor.config is None:
        return []
    return [h for h in doctor.config.handlers.values() if h.class_path == UPLOADER_CLASS]


def _name(check: str, handler: HandlerConfig, count: int) -> str:
    return check if count == 1 else f"{check}.{handler.name}"


def _skip_all(doctor: Doctor, reason: str) -> list[CheckResult]:
    return [skipped(name, reason) for name in ("keys", "account", "upload_scope", "models")]


def _find_keys(handler: HandlerConfig, env: Mapping[str, str]) -> NumeraiKeys | None:
    keys = load_keys(handler.options, env)
    if keys is None and not env.get("CREDENTIALS_DIRECTORY"):
        public, secret = CREDENTIALS_SOURCE / "numerai_public_id", CREDENTIALS_SOURCE / "numerai_secret_key"
        if public.is_file() and secret.is_file():
            found = load_keys({}, {"CREDENTIALS_DIRECTORY": str(CREDENTIALS_SOURCE)})
            if found is not None:
                keys = NumeraiKeys(found.public_id, found.secret_key, f"credential files in {CREDENTIALS_SOURCE}")
    return keys


def _where(handler: HandlerConfig, keys: NumeraiKeys) -> str:
    """Where the keys came from, as a place to correct them."""
    if keys.source == "environment":
        return "NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY"
    if keys.source == "key files":
        return f"{handler.options.get('public_id_file')} / {handler.options.get('secret_key_file')}"
    if keys.source == "systemd credentials":
        return "the systemd credentials numerai_public_id / numerai_secret_key"
    return keys.source


def _secret_file_problem(handler: HandlerConfig, keys: NumeraiKeys) -> str | None:
    secret_file = handler.options.get("secret_key_file")
    if keys.source != "key files" or not secret_file:
        return None
    mode = stat.S_IMODE(Path(str(secret_file)).stat().st_mode)
    if mode & 0o077:
        return f"secret_key_file {secret_file} is readable by others (mode {mode:04o})"
    return None


def check_keys(doctor: Doctor) -> list[CheckResult]:
    """Per uploader: keys present, accepted by Numerai, with the upload scope, owning the mapped models."""
    if doctor.config is None:
        return _skip_all(doctor, doctor.no_config)
    found = uploaders(doctor)
    if not found:
        return _skip_all(doctor, f"no [handlers.*] table uses {UPLOADER_CLASS}: numeraud uploads nothing")
    results: list[CheckResult] = []
    for handler in found:
        results += _check_uploader(doctor, handler, len(found))
    return results


def _check_uploader(doctor: Doctor, handler: HandlerConfig, count: int) -> list[CheckResult]:
    names = [_name(check, handler, count) for check in ("keys", "account", "upload_scope", "models")]
    table = f"[handlers.{handler.name}]"
    try:
        keys = _find_keys(handler, doctor.env)
    except CredentialsError as exc:
        return [
            failed(names[0], f"{table}: {exc}", "make the key files readable by the user numeraud runs as"),
            *(skipped(n, "no usable keys (see the keys line)") for n in names[1:]),
        ]
    if keys is None:
        return [
            failed(
                names[0],
                f"{table}: no Numerai keys: no systemd credentials, no NUMERAI_PUBLIC_ID/NUMERAI_SECRET_KEY, "
                "no options public_id_file/secret_key_file",
                f"{NEW_KEY}; give it to numeraud as systemd credentials (systemd/README.md) or in "
                "NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY",
            ),
            *(skipped(n, "no keys (see the keys line)") for n in names[1:]),
        ]
    if keys.secret_key:
        doctor.secrets.add(keys.secret_key)
    if not keys.public_id or not keys.secret_key:
        empty = "public id" if not keys.public_id else "secret key"
        return [
            failed(
                names[0],
                f"{table}: the {empty} from {_where(handler, keys)} is empty",
                f"write the key into {_where(handler, keys)}",
            ),
            *(skipped(n, "no usable keys (see the keys line)") for n in names[1:]),
        ]
    problem = _secret_file_problem(handler, keys)
    results = [
        failed(names[0], f"{table}: {problem}", f"chmod 0600 {handler.options.get('secret_key_file')}")
        if problem
        else passed(names[0], f"{table}: keys from {_where(handler, keys)}, public id {keys.public_id}")
    ]
    if doctor.numerai is None:
        return [*results, *(skipped(n, doctor.no_numerai) for n in names[1:])]
    account = _account(doctor, handler, keys, names[1])
    results.append(account)
    if account.status is not Status.PASS:
        return [*results, *(skipped(n, "the keys were not accepted (see the account line)") for n in names[2:])]
    results.append(_scope(doctor.accounts[handler.name], keys, names[2]))
    results.append(_models(doctor, handler, names[3]))
    return results


def _account(doctor: Doctor, handler: HandlerConfig, keys: NumeraiKeys, name: str) -> CheckResult:
    from numeraud.numerai.client import NumeraiAuthError, NumeraiClient, NumeraiError  # noqa: PLC0415 - slow

    # The uploader's own api_url option wins over [numerai] api_url, as in the uploader.
    url = str(handler.options.get("api_url") or (doctor.numerai.api_url if doctor.numerai else ""))
    try:
        client = NumeraiClient(url, keys.public_id, keys.secret_key, timeout=TIMEOUT)
        account: Any = client.get_account()
    except NumeraiAuthError as exc:
        return failed(
            name,
            f"Numerai refused the keys from {_where(handler, keys)} (public id {keys.public_id}): {exc}",
            f"check both halves of the key in {_where(handler, keys)}; if in doubt {NEW_KEY}",
        )
    except NumeraiError as exc:
        return failed(name, f"could not ask {url} for the account: {exc}", "try again; check the network")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return failed(name, f"{url} answered the account query oddly: {exc!r}", "check [numerai] api_url")
    if not isinstance(account, Mapping):
        return failed(name, f"{url} sent no account for these keys", "check [numerai] api_url")
    doctor.accounts[handler.name] = account
    doctor.clients[handler.name] = client
    return passed(name, f"Numerai accepts the keys: account {account.get('username')!r}")


def _scope(account: Mapping[str, Any], keys: NumeraiKeys, name: str) -> CheckResult:
    tokens = account.get("apiTokens")
    if not isinstance(tokens, list) or not tokens:
        return skipped(name, "Numerai listed no API keys for the account: cannot tell this key's scopes")
    mine = next((t for t in tokens if isinstance(t, Mapping) and t.get("public_id") == keys.public_id), None)
    if mine is None:
        return failed(
            name,
            f"the account lists no API key with public id {keys.public_id}",
            f"use a key of this account; {NEW_KEY}",
        )
    scopes = [str(s) for s in mine.get("scopes") or []]
    label = f"key {mine.get('name')!r} ({keys.public_id})"
    if UPLOAD_SCOPE not in scopes:
        return failed(
            name,
            f"{label} lacks the {UPLOAD_SCOPE} scope (it has: {', '.join(scopes) or 'none'}): uploads would be refused",
            f"{NEW_KEY} and use it instead",
        )
    return passed(name, f"{label} has the {UPLOAD_SCOPE} scope")


def _models(doctor: Doctor, handler: HandlerConfig, name: str) -> CheckResult:
    from numeraud.numerai.client import NumeraiError  # noqa: PLC0415
    from numeraud_handlers.uploader import model_map  # noqa: PLC0415 - the uploader's own reading

    table = f"[handlers.{handler.name}]"
    try:
        mapped = model_map(handler.options)
    except ValueError as exc:
        return failed(name, f"{table} {exc}", f"correct options.models of {table} in {doctor.config_file()}")
    wanted = sorted({model for targets in mapped.values() for model in targets})
    if not wanted:
        return failed(
            name,
            f"{table} options.models maps no Numerai model: nothing would be uploaded",
            f'set options.models = {{ model-a = "your_numerai_model" }} in {table} of {doctor.config_file()}',
        )
    account = doctor.accounts[handler.name]
    try:
        owned = {m.lower(): i for m, i in doctor.clients[handler.name].get_models().items()}
    except NumeraiError as exc:
        return failed(name, f"could not list the account's models: {exc}", "try again; check the network")
    missing = [model for model in wanted if model not in owned]
    username = account.get("username")
    if missing:
        return failed(
            name,
            f"{table} options.models names {', '.join(repr(m) for m in missing)}, not a model of account "
            f"{username!r} (it has: {', '.join(sorted(owned)) or 'none'})",
            f"correct options.models of {table} in {doctor.config_file()} (values are Numerai model names), "
            "or create the model at https://numer.ai/models",
        )
    return passed(name, f"all {len(wanted)} mapped models belong to account {username!r}: {', '.join(wanted)}")
