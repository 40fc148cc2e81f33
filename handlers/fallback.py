"""The uploader's deadline guard: what to submit for a model whose predictions are not there in time.

``options.fallback`` names, for every Numerai model or per model, what the uploader submits when
``round_deadline_near`` comes and the model has no accepted submission for the round::

    options = { models = { model-a = "my_model" }, fallback = ["model:my_other_model", "example"] }
    options = { ..., fallback = { my_model = "example", my_other_model = "none" } }

* ``"example"``: Numerai's example predictions for the round (``live_example_preds.parquet``,
  from the event when ``[data] live_files`` syncs it, else downloaded then);
* ``"previous"``: the model's last accepted real predictions (valid only where the round's live
  ids are still the same ones: Numerai changes them every round, so this usually fails validation
  and the next fallback is tried);
* ``"model:NAME"``: the real predictions another of your Numerai models submitted this round;
* ``"none"``: nothing (the default): ``submission_at_risk`` still tells the notifier.

A list is tried in order; each candidate is validated against the round's live ids first, and a
refused one is reported with its reason before the next is tried. Real predictions that arrive
before the deadline replace the fallback (Numerai keeps the latest valid submission).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Fallbacks that take no argument.
PLAIN = frozenset({"example", "previous", "none"})
#: The source recorded in the ledger for an upload made by the guard: ``fallback:<kind>``.
PREFIX = "fallback:"


@dataclass(frozen=True)
class Fallbacks:
    """The fallback list of every Numerai model (see the module docstring)."""

    default: tuple[str, ...]
    per_model: Mapping[str, tuple[str, ...]]

    def of(self, model: str) -> tuple[str, ...]:
        """The fallbacks of Numerai model ``model``, in the order they are tried."""
        return self.per_model.get(model, self.default)


def _spec_list(value: Any, key: str, models: set[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{key}: must be a fallback or a list of them ({', '.join(sorted(PLAIN))}, model:NAME)")
    out = []
    for item in items:
        name = item.lower()
        if name.startswith("model:"):
            other = name[len("model:") :]
            if other not in models:
                raise ValueError(
                    f"{key}: {item!r} names no model this uploader submits (it has: {', '.join(sorted(models))})"
                )
        elif name not in PLAIN:
            raise ValueError(f"{key}: unknown fallback {item!r} (one of {', '.join(sorted(PLAIN))}, model:NAME)")
        out.append(name)
    return tuple(out)


def parse_fallbacks(options: Mapping[str, Any], models: Sequence[str]) -> Fallbacks:
    """``options.fallback`` checked against the Numerai ``models`` the uploader submits for.

    Raises ``ValueError`` naming ``options.fallback`` (or ``options.fallback.MODEL``) and what is wrong.
    """
    known = set(models)
    raw = options.get("fallback", "none")
    if isinstance(raw, Mapping):
        per_model = {}
        for model, value in raw.items():
            key = f"options.fallback.{model}"
            if str(model).lower() not in known:
                raise ValueError(f"{key}: {model!r} is not a model this uploader submits")
            per_model[str(model).lower()] = _spec_list(value, key, known)
        return Fallbacks(default=("none",), per_model=per_model)
    return Fallbacks(default=_spec_list(raw, "options.fallback", known), per_model={})


def is_fallback(source: str | None) -> bool:
    """Whether a ledger row's source is an upload the guard made."""
    return (source or "").startswith(PREFIX)
