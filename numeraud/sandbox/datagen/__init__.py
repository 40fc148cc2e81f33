"""Synthetic Numerai datasets for the sandbox: Numerai's schema, real signal, deterministic from a seed.

Layout under ``root`` (what :class:`DatasetGenerator` writes)::

    root/<version>/features.json                          # every feature set and group, every target
    root/<version>/train.parquet
    root/<version>/train_benchmark_models.parquet         # one column per benchmark model
    root/<version>/validation.parquet                     # grows with update_validation()
    root/<version>/validation_example_preds.parquet       # column "prediction" (and .csv: id,prediction)
    root/<version>/validation_benchmark_models.parquet
    root/<version>/meta_model.parquet                     # column "numerai_meta_model", every validation id
    root/<version>/live_<round>.parquet                   # targets all NaN
    root/<version>/live_example_preds_<round>.parquet     # column "prediction" (and .csv)
    root/<version>/live_benchmark_models_<round>.parquet
    root/.hidden/<version>/live_<round>.parquet        # the truth: target, target_*, numerai_meta_model
    root/.hidden/<version>/generator.json              # seed and size the version was made with
    root/.hidden/<version>/validation.json             # how many weekly updates validation has had

Everything public is id-indexed (``id`` = ``"n"`` + 15 hex digits). Every parquet file is written
one era per row group to a dot-prefixed ``*.tmp`` name in the same directory and then
fsynced and renamed into place (``numeraud.common.files.replace_durably``), so a reader never
sees a partial file.

Eras: train is ``0001`` .. ``train_eras``; validation continues right after train. The live file
of round ``r`` has the single era ``train_eras + validation_eras + r`` (validation_eras as at the
version's release), zero-padded to four digits: unique per round and after every release-time
validation era. Weekly validation updates add eras after the release-time ones, so with many
updates a validation era number can equal a live era number; the two never share ids.

The signal: a hidden, seed-determined weight vector over a subset of the features (a larger
share of them in the ``small`` and ``medium`` sets), plus noise, gives a latent score per row that
is binned per era into 5/20/50/20/5 % of {0, .25, .5, .75, 1}. Auxiliary targets mix that weight
vector with their own. Feature names, feature sets and the signal depend on the seed and the size
only, so every live round follows the signal a model learnt from train.

Feature sets: ``small`` ⊂ ``medium`` ⊂ ``all``, the legacy ``v2_equivalent_features`` etc. and
the twelve groups, every one at every size (the smaller sizes have fewer columns in each); v5.3
and later add the ``quantum`` group (in ``all`` too). Benchmark models: see
:mod:`numeraud.sandbox.datagen.benchmarks`.

Versions: as in Numerai, all versions share the universe. An era's (or a live round's) ids, row
count, targets and meta model depend on (seed, era or round) only, so a submission made from any
version's live file is scored against the same truth. Each version re-draws a few feature columns
per era (and its example predictions follow its own features), so versions differ a little.
"""

from numeraud.sandbox.datagen.generator import VERSION_FILES, DatasetGenerator
from numeraud.sandbox.datagen.sizes import SIZES, SizeSpec, size_spec

__all__ = ["SIZES", "VERSION_FILES", "DatasetGenerator", "SizeSpec", "size_spec"]
