"""Resolvers of Numerai Compute's Model Uploads: ``computePickleUploadAuth`` (+ the PUT), the create mutation, lists."""

from __future__ import annotations

from typing import Any

from numeraud.common.tournaments import CLASSIC
from numeraud.sandbox.graphql_api.context import Context, Resolver


def _upload_auth(context: Context, args: dict[str, Any]) -> dict[str, str]:
    context.require_auth()
    pending = context.core.compute.upload_auth(str(args.get("filename") or ""), args.get("modelId"))
    return {"filename": pending.key, "url": f"{context.base_url}/uploads/{pending.token}"}


def _create(context: Context, args: dict[str, Any]) -> dict[str, str]:
    context.require_auth()
    upload_id = context.core.compute.create(
        str(args.get("filename")),
        int(args.get("tournament") or CLASSIC),
        args.get("modelId"),
        data_version_id=args.get("dataVersionId"),
        docker_image_id=args.get("dockerImageId"),
        now=context.now,
    )
    return {"id": upload_id}


def _data_versions(context: Context, args: dict[str, Any]) -> list[dict[str, str]]:
    context.require_auth()
    return context.core.compute.data_versions()


def _docker_images(context: Context, args: dict[str, Any]) -> list[dict[str, str]]:
    context.require_auth()
    return context.core.compute.docker_images()


#: Root field → resolver.
RESOLVERS: dict[str, Resolver] = {
    "computePickleUploadAuth": _upload_auth,
    "createComputePickleUpload": _create,
    "computePickleDataVersions": _data_versions,
    "computePickleDockerImages": _docker_images,
}
