"""Numerai Compute's Model Uploads: the data versions and images on offer, pickle upload slots, uploads.

The pickle goes through the same PUT as a predictions file (an upload slot in ``state.pending``)
and is only stored: the sandbox never unpickles it (loading a pickle runs its code).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from pathlib import Path

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.accounts import Accounts
from numeraud.sandbox.errors import ApiError
from numeraud.sandbox.records import ModelUpload, PendingUpload, SandboxState

#: The Python images Numerai's Model Uploads run (numerai-predict supports 3.10 to 3.13).
DOCKER_IMAGES = ("Python 3.10", "Python 3.11", "Python 3.12", "Python 3.13")
_NAMESPACE = uuid.UUID("3d0c2b7e-5f1a-4c8e-9b6d-2a4f7e1c9d80")


def _named_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{name}"))


class ComputeUploads:
    """``computePickle*`` and ``createComputePickleUpload`` (state under ``lock``)."""

    def __init__(self, data_dir: Path, state: SandboxState, *, lock: threading.RLock, accounts: Accounts) -> None:
        """Keep uploaded pickles in ``data_dir/.uploads`` next to the predictions files."""
        self.state = state
        self.lock = lock
        self.accounts = accounts
        self.upload_dir = data_dir / ".uploads"

    def data_versions(self) -> list[dict[str, str]]:
        """Every published dataset version as a Model Upload data version: ``{name, id}``."""
        with self.lock:
            versions = list(self.state.versions)
        return [{"name": name, "id": _named_id("data", name)} for name in versions]

    def docker_images(self) -> list[dict[str, str]]:
        """The images a Model Upload can run in: ``{name, id}``."""
        return [{"name": name, "id": _named_id("image", name)} for name in DOCKER_IMAGES]

    def upload_auth(self, filename: str, model_id: str | None) -> PendingUpload:
        """Hand out an upload slot for a ``.pkl`` file (``computePickleUploadAuth``)."""
        model = self.accounts.model(model_id)
        base = Path(filename).name
        if not base.endswith(".pkl"):
            raise ApiError(f"Model upload file must be a .pkl file, got {filename!r}")
        pending = PendingUpload.new(model.id, base, self.upload_dir, kind="model-upload/", suffix=".pkl")
        with self.lock:
            self.state.pending[pending.token] = pending
        return pending

    def create(
        self,
        filename: str,
        tournament: int,
        model_id: str | None,
        *,
        data_version_id: str | None,
        docker_image_id: str | None,
        now: datetime,
    ) -> str:
        """Record an uploaded pickle (``createComputePickleUpload``); returns the upload's id."""
        if tournament != CLASSIC:
            raise ApiError(f"Tournament {tournament} is not served by the sandbox (Classic is 8)")
        model = self.accounts.model(model_id)
        versions = {item["id"]: item["name"] for item in self.data_versions()}
        images = {item["id"]: item["name"] for item in self.docker_images()}
        if data_version_id is not None and data_version_id not in versions:
            raise ApiError(f"Unknown data version id: {data_version_id}")
        if docker_image_id is not None and docker_image_id not in images:
            raise ApiError(f"Unknown docker image id: {docker_image_id}")
        with self.lock:
            pending = next((p for p in self.state.pending.values() if p.key == filename), None)
        if pending is None or pending.model_id != model.id or "/model-upload/" not in pending.key:
            raise ApiError(f"Upload not found: {filename}")
        if not pending.received or pending.size == 0:
            raise ApiError("No model file was uploaded to the upload URL")
        upload = ModelUpload(
            id=str(uuid.uuid4()),
            model_id=model.id,
            filename=pending.client_filename,
            path=pending.path,
            size=pending.size,
            data_version=versions.get(data_version_id) if data_version_id else None,
            docker_image=images.get(docker_image_id) if docker_image_id else None,
            at=now,
        )
        with self.lock:
            self.state.pending.pop(pending.token, None)
            self.state.model_uploads.append(upload)
        return upload.id
