"""Synthetic Signals and Crypto data: universes, training files, each round's live files, the hidden truth.

Layout under ``root`` (files are written on first request, then left alone)::

    root/signals/v2.0/train.parquet                     # numerai_ticker, composite_figi, date, data_type,
                                                        #   feature_*, target*
    root/signals/v2.0/validation.parquet                # the same columns, later dates
    root/signals/v2.0/validation_example_preds.parquet  # numerai_ticker, date, signal (and .csv)
    root/signals/v2.0/live_<round>.parquet              # the round's universe: numerai_ticker, composite_figi, date,
                                                        #   data_type "live", feature_* (no targets)
    root/signals/v2.0/live_example_preds_<round>.parquet  # numerai_ticker, signal (and .csv): a valid submission
    root/crypto/v2.0/train_targets.parquet              # symbol, date, target
    root/crypto/v2.0/live_universe_<round>.parquet      # symbol

``signals/v1.0`` has the same files without ``composite_figi``; ``crypto/v1.0`` is like ``v2.0``.
The universe of a round (a few names move in and out from one round to the next, BTC, ETH and
NMR always in Crypto's), its features and its hidden targets depend on (seed, tournament, round)
only, so every version's live file of a round names the same universe and is scored against
the same truth. The full universe (:meth:`SideData.universe`) also has the ticker types Numerai
accepts but does not publish (``ticker``, ``sedol``, ``bloomberg_ticker``), so a submission by
any of them validates.
"""

from __future__ import annotations

import string
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from numeraud.common.files import atomic_path
from numeraud.common.tournaments import CRYPTO, SIGNALS
from numeraud.numerai.validation import CRYPTO_SYMBOL, SIGNALS_TICKER
from numeraud.sandbox.datagen.seeds import seeded_rng

#: The versions Numerai lists for each tournament, oldest first.
SIDE_VERSIONS: Final = {SIGNALS: ("signals/v1.0", "signals/v2.0"), CRYPTO: ("crypto/v1.0", "crypto/v2.0")}
#: Files of a version every round shares.
STATIC_FILES: Final = {
    SIGNALS: (
        "train.parquet",
        "validation.parquet",
        "validation_example_preds.parquet",
        "validation_example_preds.csv",
    ),
    CRYPTO: ("train_targets.parquet",),
}
#: Files of a version that each round has its own of: (stem, suffix).
PER_ROUND_FILES: Final = {
    SIGNALS: (("live", ".parquet"), ("live_example_preds", ".parquet"), ("live_example_preds", ".csv")),
    CRYPTO: (("live_universe", ".parquet"),),
}
#: Numerai's Signals v1 features (docs.numer.ai, Signals data).
SIGNALS_FEATURES: Final = (
    "feature_adv_20d_factor",
    "feature_beta_factor",
    "feature_book_to_price_factor",
    "feature_dividend_yield_factor",
    "feature_earnings_yield_factor",
    "feature_growth_factor",
    "feature_impact_cost_factor",
    "feature_market_cap_factor",
    "feature_momentum_12w_factor",
    "feature_momentum_26w_factor",
    "feature_momentum_52w_factor",
    "feature_momentum_52w_less_4w_factor",
    "feature_ppo_60d_130d_country_ranknorm",
    "feature_ppo_60d_90d_country_ranknorm",
    "feature_price_factor",
    "feature_rsi_130d_country_ranknorm",
    "feature_rsi_60d_country_ranknorm",
    "feature_rsi_90d_country_ranknorm",
    "feature_trix_130d_country_ranknorm",
    "feature_trix_60d_country_ranknorm",
    "feature_value_factor",
    "feature_volatility_factor",
)
#: Signals' targets: ``target`` is ``target_factor_feat_neutral``, as Numerai documents.
SIGNALS_TARGETS: Final = ("target", "target_raw_return", "target_factor_neutral", "target_factor_feat_neutral")
#: Ticker types of the full universe (numerai-tools' SIGNALS_ALLOWED_ID_COLS).
SIGNALS_ID_TYPES: Final = ("ticker", "sedol", "bloomberg_ticker", "composite_figi", SIGNALS_TICKER)
#: Tokens Numerai always keeps in the Crypto universe.
CRYPTO_CORE: Final = ("BTC", "ETH", "NMR")
_COUNTRIES: Final = ("US", "JP", "GB", "DE", "FR", "CA", "AU", "CH", "KR", "HK")
_BINS: Final = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_BIN_EDGES: Final = np.array([0.05, 0.25, 0.75, 0.95])


@dataclass(frozen=True)
class SideSize:
    """How big one tournament's data is: universe, spare names that move in and out, history dates."""

    universe: int
    spare: int
    train_dates: int
    validation_dates: int
    step_days: int


#: ``--size`` → (Signals, Crypto) sizes. Numerai: ~5,000 stocks, ~500 tokens; both need 100 to submit.
SIDE_SIZES: Final = {
    "tiny": {SIGNALS: SideSize(150, 10, 8, 4, 7), CRYPTO: SideSize(120, 10, 20, 0, 1)},
    "small": {SIGNALS: SideSize(600, 30, 52, 13, 7), CRYPTO: SideSize(300, 20, 180, 0, 1)},
    "full": {SIGNALS: SideSize(5000, 100, 260, 52, 7), CRYPTO: SideSize(500, 40, 730, 0, 1)},
}


def _bin(latent: np.ndarray) -> np.ndarray:
    """Latent scores binned into Numerai's 5/20/50/20/5 % of {0, .25, .5, .75, 1}."""
    ranks = (pd.Series(latent).rank(method="first").to_numpy() - 0.5) / max(1, len(latent))
    return _BINS[np.searchsorted(_BIN_EDGES, ranks)]


class SideData:
    """One tournament's synthetic data under ``root`` (see the module docstring); thread-safe."""

    def __init__(self, root: Path, tournament: int, size: str, seed: int) -> None:
        """Fix the name pool, the signal and the sizes from ``seed`` and ``size``."""
        if size not in SIDE_SIZES:
            raise ValueError(f"size: {size!r} is not one of {', '.join(SIDE_SIZES)}")
        self.root = root
        self.tournament = tournament
        self.size = SIDE_SIZES[size][tournament]
        self.seed = seed
        self._lock = threading.Lock()
        self._pool = self._make_pool()
        features = len(SIGNALS_FEATURES) if tournament == SIGNALS else 4
        self._weights = seeded_rng(seed, tournament, "weights").normal(size=features)
        self._universes: dict[int, pd.DataFrame] = {}

    # -- names -----------------------------------------------------------------------------------

    def _make_pool(self) -> pd.DataFrame:
        rng = seeded_rng(self.seed, self.tournament, "pool")
        count = self.size.universe + self.size.spare
        letters = np.array(list(string.ascii_uppercase))
        names: list[str] = list(CRYPTO_CORE) if self.tournament == CRYPTO else []
        seen = set(names)
        while len(names) < count:
            name = "".join(rng.choice(letters, size=int(rng.integers(3, 6))))
            if name not in seen:
                seen.add(name)
                names.append(name)
        if self.tournament == CRYPTO:
            return pd.DataFrame({CRYPTO_SYMBOL: names})
        alnum = np.array(list(string.ascii_uppercase + string.digits))
        countries = rng.choice(np.array(_COUNTRIES), size=count)
        return pd.DataFrame(
            {
                "ticker": names,
                "sedol": [f"{i:03d}" + "".join(rng.choice(alnum, size=4)) for i in range(count)],
                "bloomberg_ticker": [f"{n} {c} Equity" for n, c in zip(names, countries, strict=True)],
                "composite_figi": ["BBG" + "".join(rng.choice(alnum, size=9)) for _ in range(count)],
                SIGNALS_TICKER: [f"{n} {c}" for n, c in zip(names, countries, strict=True)],
                "country": countries,
            }
        )

    @property
    def id_column(self) -> str:
        """The column the tournament's public files name each stock or token by."""
        return SIGNALS_TICKER if self.tournament == SIGNALS else CRYPTO_SYMBOL

    def universe(self, round_number: int) -> pd.DataFrame:
        """Round ``round_number``'s live universe: every id type, one row per stock or token."""
        with self._lock:
            cached = self._universes.get(round_number)
            if cached is None:
                rng = seeded_rng(self.seed, self.tournament, "universe", round_number)
                # Names near the cut move in and out from one round to the next; the top ones never.
                order = np.arange(len(self._pool)) + rng.normal(scale=2.0, size=len(self._pool))
                if self.tournament == CRYPTO:
                    order[: len(CRYPTO_CORE)] = -1.0
                chosen = np.sort(np.argsort(order, kind="stable")[: self.size.universe])
                cached = self._pool.iloc[chosen].drop(columns=["country"], errors="ignore").reset_index(drop=True)
                self._universes[round_number] = cached
        return cached.copy()

    # -- values ----------------------------------------------------------------------------------

    def _block(self, ids: pd.Series, key: object) -> tuple[np.ndarray, np.ndarray]:
        """Features and a latent score (the hidden signal plus noise) for ``ids`` at ``key``."""
        rng = seeded_rng(self.seed, self.tournament, "block", key)
        features = rng.normal(size=(len(ids), len(self._weights))).astype("float32")
        latent = features @ self._weights + rng.normal(scale=3.0, size=len(ids))
        return features, latent

    def _signals_frame(
        self, universe: pd.DataFrame, day: date, data_type: str, key: object, *, figi: bool
    ) -> pd.DataFrame:
        features, latent = self._block(universe[SIGNALS_TICKER], key)
        frame = pd.DataFrame({SIGNALS_TICKER: universe[SIGNALS_TICKER].to_numpy()})
        if figi:
            frame["composite_figi"] = universe["composite_figi"].to_numpy()
        frame["date"] = pd.Timestamp(day)
        frame["data_type"] = data_type
        for position, name in enumerate(SIGNALS_FEATURES):
            frame[name] = features[:, position]
        if data_type != "live":
            main = _bin(latent)
            frame["target"] = main
            frame["target_raw_return"] = _bin(
                latent + seeded_rng(self.seed, key, "raw").normal(scale=2, size=len(latent))
            )
            frame["target_factor_neutral"] = _bin(latent + seeded_rng(self.seed, key, "fn").normal(size=len(latent)))
            frame["target_factor_feat_neutral"] = main
        return frame

    def truth(self, round_number: int) -> pd.DataFrame:
        """The hidden result of a round, indexed by :attr:`id_column`: ``target`` and ``numerai_meta_model``."""
        universe = self.universe(round_number)
        ids = universe[self.id_column]
        _, latent = self._block(ids, ("live", round_number))
        meta = latent + seeded_rng(self.seed, self.tournament, "meta", round_number).normal(scale=3.0, size=len(ids))
        return pd.DataFrame(
            {"target": _bin(latent), "numerai_meta_model": pd.Series(meta).rank(pct=True).to_numpy()},
            index=pd.Index(ids.to_numpy(), name=self.id_column),
        )

    # -- files -----------------------------------------------------------------------------------

    def ensure_static(self, version: str) -> None:
        """Write ``version``'s shared files (training, validation, example predictions) if missing."""
        directory = self.root / version
        with self._lock:
            if all((directory / name).is_file() for name in STATIC_FILES[self.tournament]):
                return
            if self.tournament == CRYPTO:
                self._write_crypto_train(directory)
            else:
                self._write_signals_history(directory, figi=not version.endswith("v1.0"))

    def _history_dates(self) -> list[date]:
        # History ends a few weeks before the first live round could open (date fixed by the seed, not the clock).
        total = self.size.train_dates + self.size.validation_dates
        end = date(2026, 1, 2)
        return [end - timedelta(days=self.size.step_days * (total - i)) for i in range(total)]

    def _write_signals_history(self, directory: Path, *, figi: bool) -> None:
        """Train and validation, one date per row group, written as they are made (the full size's
        train has 1.3 M rows: never all in memory at once)."""
        dates = self._history_dates()
        universe = self._pool.iloc[: self.size.universe]
        rng = seeded_rng(self.seed, "validation-example")
        with ExitStack() as stack:
            writers: dict[str, _Appender] = {
                name: stack.enter_context(_Appender(directory / name))
                for name in ("train.parquet", "validation.parquet", "validation_example_preds.parquet")
            }
            examples = []
            for index, day in enumerate(dates):
                kind = "train" if index < self.size.train_dates else "validation"
                frame = self._signals_frame(universe, day, kind, ("history", index), figi=figi)
                writers[f"{kind}.parquet"].append(frame)
                if kind == "validation":
                    signal = frame[list(SIGNALS_FEATURES[:3])].mean(axis=1).rank(pct=True) * 0.98
                    example = frame[[SIGNALS_TICKER, "date"]].assign(signal=signal + rng.uniform(0, 0.01, len(frame)))
                    writers["validation_example_preds.parquet"].append(example)
                    examples.append(example)
        _write_csv(directory / "validation_example_preds.csv", pd.concat(examples, ignore_index=True))

    def _write_crypto_train(self, directory: Path) -> None:
        frames = []
        universe = self._pool.iloc[: self.size.universe]
        for index, day in enumerate(self._history_dates()):
            _, latent = self._block(universe[CRYPTO_SYMBOL], ("history", index))
            frames.append(
                pd.DataFrame(
                    {CRYPTO_SYMBOL: universe[CRYPTO_SYMBOL], "date": pd.Timestamp(day), "target": _bin(latent)}
                )
            )
        _write_parquet(directory / "train_targets.parquet", pd.concat(frames, ignore_index=True))

    def ensure_live(self, version: str, round_number: int, day: date) -> None:
        """Write ``version``'s live files of round ``round_number`` (data ``date``: ``day``) if missing."""
        directory = self.root / version
        names = [f"{stem}_{round_number}{suffix}" for stem, suffix in PER_ROUND_FILES[self.tournament]]
        if all((directory / name).is_file() for name in names):
            return
        universe = self.universe(round_number)
        with self._lock:
            if self.tournament == CRYPTO:
                _write_parquet(directory / names[0], universe[[CRYPTO_SYMBOL]])
                return
            live = self._signals_frame(universe, day, "live", ("live", round_number), figi=not version.endswith("v1.0"))
            features = live[list(SIGNALS_FEATURES[:3])].mean(axis=1)
            example = pd.DataFrame({SIGNALS_TICKER: live[SIGNALS_TICKER], "signal": features.rank(pct=True) * 0.98})
            _write_parquet(directory / names[0], live)
            _write_parquet(directory / names[1], example)
            _write_csv(directory / names[2], example)


class _Appender:
    """A Parquet file written one frame (row group) at a time; it replaces ``path`` only when complete."""

    def __init__(self, path: Path) -> None:
        self._stack = ExitStack()
        self._temp = self._stack.enter_context(atomic_path(path, mode=0o644))
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _Appender:
        return self

    def append(self, frame: pd.DataFrame) -> None:
        """Write ``frame`` as the next row group (the first one fixes the schema)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._temp, table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        self._stack.__exit__(*exc)  # type: ignore[arg-type]


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, mode=0o644) as temp:
        frame.to_parquet(temp, index=False)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path, mode=0o644) as temp:
        frame.to_csv(temp, index=False)
