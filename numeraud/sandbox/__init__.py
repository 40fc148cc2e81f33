"""``numeraud sandbox``: a local Numerai that the real numerapi client works against unchanged.

Point numerapi at it with :func:`numeraud.numerai.client.use_api_url` (or by setting
``numerapi.base_api.API_TOURNAMENT_URL``). See :class:`Sandbox` for the Python API and
:mod:`numeraud.sandbox.admin_routes` for the admin routes.
"""

from numeraud.sandbox.app import Sandbox
from numeraud.sandbox.options import SandboxKey, SandboxOptions

__all__ = ["Sandbox", "SandboxKey", "SandboxOptions"]
