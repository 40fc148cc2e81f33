"""Numerai from here: reachable, its clock against ours, the dataset files and the disk they need.

The calls go through numeraud's own client (:class:`numeraud.numerai.client.NumeraiClient`) with the
follower's round query and the data sync's dataset query, so the doctor asks what the supervisor
will ask, the same way. File sizes come from Numerai's download URLs (a one-byte ``Range`` request: the
``Content-Range`` total, or ``Content-Length``), and the disk check counts what is still to be
downloaded: the training files not yet on disk at that size, ``retention`` rounds of live files
less those already kept, and ``[data] reserve_bytes``, which the data sync keeps free.
"""

from __future__ import annotations

import re
import shutil
import time
from typing import TYPE_CHECKING, Any, Final

from numeraud.cli.doctor.base import (
    TIMEOUT,
    CheckResult,
    DatasetPlan,
    Doctor,
    NumeraiProbe,
    failed,
    human_bytes,
    nearest_existing,
    passed,
    skipped,
)
from numeraud.numerai.clock import LARGE_OFFSET, describe, measure
from numeraud.supervisor.tournament import latest_version

if TYPE_CHECKING:
    import requests

# numerapi, requests and pyarrow are imported by the checks that use them: a broken installation
# gets its failing "packages" line, not an ImportError before the first line.

#: Seconds our clock may differ from Numerai's (the supervisor corrects its deadlines by the
#: offset, but a large one means the clock is not synchronised).
MAX_CLOCK_OFFSET: Final = LARGE_OFFSET


def _reason(exc: BaseException) -> str:
    """The most specific cause in an exception chain, e.g. ``[Errno 111] Connection refused``."""
    text = str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        match = re.search(r"\[Errno -?\d+\][^'\")]*", str(cause))
        if match:
            return f"{text} ({match.group(0).strip().rstrip(',')})"
        cause = cause.__cause__ or cause.__context__
    return text


def check_numerai(doctor: Doctor) -> list[CheckResult]:
    """``[numerai] api_url`` answers the supervisor's first question (the current round)."""
    if doctor.config is None:
        doctor.no_numerai = doctor.no_config
        return [skipped("numerai", doctor.no_config)]
    from numeraud.numerai.client import NumeraiClient, NumeraiRejected, NumeraiUnavailable  # noqa: PLC0415 - slow
    from numeraud.supervisor.poller import ROUND_QUERY  # noqa: PLC0415

    url = doctor.config.numerai.api_url
    fix = (
        f"check [numerai] api_url in {doctor.config_file()} and that this machine reaches it "
        "(network, DNS, proxy: HTTPS_PROXY/NO_PROXY, firewall)"
    )
    try:
        client = NumeraiClient(url, timeout=TIMEOUT)
    except ValueError as exc:
        doctor.no_numerai = "[numerai] api_url is not usable"
        return [failed("numerai", str(exc), fix)]
    heard: dict[str, Any] = {}

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        heard.update(date=response.headers.get("Date"), at=time.time(), elapsed=response.elapsed.total_seconds())

    client.session.hooks["response"].append(remember)
    note = ""
    round_number: int | None = None
    try:
        answer = client.raw_query(ROUND_QUERY, {"tournament": doctor.config.numerai.tournament})
        rounds = answer["data"]["rounds"] or []
        if rounds and isinstance(rounds[0], dict):
            round_number = int(rounds[0]["number"])
    except NumeraiUnavailable as exc:
        doctor.no_numerai = f"Numerai did not answer at {url}"
        return [failed("numerai", f"{url}: {_reason(exc)}", fix)]
    except NumeraiRejected as exc:
        note = f" (no current round: {exc})"  # it answered: reachable
    except (KeyError, TypeError, ValueError) as exc:
        doctor.no_numerai = f"{url} does not answer like Numerai"
        return [failed("numerai", f"{url} answered, but not like Numerai's API ({exc!r})", fix)]
    doctor.numerai = NumeraiProbe(
        api_url=url,
        client=client,
        round_number=round_number,
        date_header=heard.get("date"),
        received_at=float(heard.get("at", time.time())),
        elapsed=float(heard.get("elapsed", 0.0)),
    )
    current = f"; current round {round_number}" if round_number is not None else ""
    return [passed("numerai", f"{url} answers{current}{note}")]


def check_clock(doctor: Doctor) -> list[CheckResult]:
    """Our clock against the ``Date`` header of Numerai's answer."""
    probe = doctor.numerai
    if probe is None:
        return [skipped("clock", doctor.no_numerai)]
    if not probe.date_header:
        return [skipped("clock", f"{probe.api_url} sent no Date header to compare the clock with")]
    reading = measure(probe.date_header, probe.received_at, probe.elapsed)
    if reading is None:
        return [skipped("clock", f"{probe.api_url} sent an unreadable Date header {probe.date_header!r}")]
    offset, error = reading.offset, reading.error
    if abs(offset) <= error:
        measured = f"this clock agrees with Numerai's to within {error:.1f} s (by its Date header)"
    else:
        measured = f"{describe(offset)} (+/- {error:.1f} s, by its Date header)"
    if abs(offset) > MAX_CLOCK_OFFSET:
        return [
            failed(
                "clock",
                f"{measured}: more than {MAX_CLOCK_OFFSET:g} s",
                "synchronise the clock: timedatectl set-ntp true, or `chronyc makestep` with chrony",
            )
        ]
    return [passed("clock", measured)]


def _remote_size(session: requests.Session, url: str) -> int | None:
    """The size of the file behind a download URL, from a one-byte ranged GET; None if not told."""
    with session.get(url, headers={"Range": "bytes=0-0"}, stream=True, timeout=TIMEOUT) as response:
        if response.status_code == 206:
            match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
            return int(match.group(1)) if match else None
        if response.status_code == 200:
            length = response.headers.get("Content-Length", "")
            return int(length) if length.isdigit() else None
        response.raise_for_status()
        return None


def check_datasets(doctor: Doctor) -> list[CheckResult]:
    """The configured dataset version and files exist at Numerai, with their sizes."""
    probe, config = doctor.numerai, doctor.config
    if probe is None or config is None:
        return [skipped("datasets", doctor.no_numerai)]
    import requests  # noqa: PLC0415

    from numeraud.numerai.client import NumeraiError, NumeraiRejected  # noqa: PLC0415
    from numeraud.supervisor.datasync import DATASET_QUERY  # noqa: PLC0415 - loads pyarrow

    data = config.data
    client = probe.client
    version = data.version
    sizes: dict[str, int | None] = {}
    missing: list[str] = []
    listed: list[str] = []
    try:
        if version == "latest":
            listed = list(client.list_datasets() or [])
            version = latest_version(listed) or ""
            if not version:
                return [failed("datasets", "Numerai lists no dataset version", "try again later")]
        session = requests.Session()
        for name in (*data.training_files, *data.live_files):
            remote = f"{version}/{name}"
            variables = {"filename": remote, "round": None, "tournament": client.tournament_id}
            try:
                url = client.raw_query(DATASET_QUERY, variables)["data"]["dataset"]
            except NumeraiRejected:
                missing.append(remote)
                continue
            try:
                sizes[name] = _remote_size(session, str(url))
            except requests.RequestException as exc:
                return [failed("datasets", f"{remote}: its download URL failed: {_reason(exc)}", "try again later")]
        if missing and not listed:
            listed = list(client.list_datasets() or [])
    except NumeraiError as exc:
        return [failed("datasets", f"Numerai stopped answering: {_reason(exc)}", "try again later")]
    if missing:
        offered = sorted(n.split("/", 1)[1] for n in listed if n.startswith(f"{version}/"))
        return [
            failed(
                "datasets",
                f"Numerai has no {', '.join(missing)} (it has: {', '.join(offered) or 'no file of ' + version})",
                f"correct [data] version / training_files / live_files in {doctor.config_file()}",
            )
        ]
    doctor.datasets = DatasetPlan(
        version=version,
        training={n: sizes[n] for n in data.training_files},
        live={n: sizes[n] for n in data.live_files},
    )
    found = ", ".join(f"{n} {human_bytes(s) if s is not None else 'size unknown'}" for n, s in sizes.items())
    pinned = "" if data.version == version else " (latest)"
    return [passed("datasets", f"{version}{pinned} at Numerai: {found}")]


def check_disk(doctor: Doctor) -> list[CheckResult]:
    """Free space on the data directory's file system for what is still to download, plus the reserve."""
    plan, config = doctor.datasets, doctor.config
    if plan is None or config is None:
        return [skipped("disk", "the dataset sizes are not known (see the datasets line)")]
    data_dir = config.paths.data_dir
    version_dir = data_dir / plan.version
    training = 0
    for name, size in plan.training.items():
        path = version_dir / name
        if size is not None and not (path.is_file() and path.stat().st_size == size):
            training += size
    kept = 0
    for name in plan.live:
        stem, _, suffix = name.rpartition(".")  # kept per round as live_{round}.parquet
        per_round = re.compile(rf"{re.escape(stem)}_\d+\.{re.escape(suffix)}")
        kept += sum(
            p.stat().st_size for p in version_dir.glob(f"{stem}_*") if per_round.fullmatch(p.name) and p.is_file()
        )
    live_total = sum(s for s in plan.live.values() if s is not None)
    live = max(0, config.data.retention * live_total - kept)
    reserve = config.data.reserve_bytes
    needed = training + live + reserve
    where = nearest_existing(data_dir)
    free = shutil.disk_usage(where).free
    unknown = [n for n, s in (*plan.training.items(), *plan.live.items()) if s is None]
    caveat = f" (sizes unknown: {', '.join(unknown)})" if unknown else ""
    detail = (
        f"{human_bytes(free)} free at {where}; needs {human_bytes(needed)}: {human_bytes(training)} of training "
        f"files to download, {human_bytes(live)} for {config.data.retention} rounds of live files, "
        f"{human_bytes(reserve)} [data] reserve_bytes{caveat}"
    )
    if free < needed:
        return [
            failed(
                "disk",
                detail,
                f"free {human_bytes(needed - free)} there, move [paths] data_dir to a bigger disk, or lower "
                f"[data] reserve_bytes / retention in {doctor.config_file()}",
            )
        ]
    return [passed("disk", detail)]
