# ruff: noqa: SIM115, RUF005 - written the way Numerai's example code is, not the way numeraud's is
"""A model in the style of Numerai's example-scripts ``hello_numerai``: nothing sandbox-specific in it.

Downloads v5.3's features.json, train, validation and live; trains LightGBM on a feature set;
scores validation with numerai-tools against the meta model; predicts live and uploads. The keys
come from NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY as numerapi reads them; only the API URL is set
from outside (numerapi.base_api.API_TOURNAMENT_URL), as for any local Numerai.
"""

import json
import os

import lightgbm as lgb
import pandas as pd
from numerai_tools.scoring import correlation_contribution, numerai_corr
from numerapi import NumerAPI

napi = NumerAPI()

# list the datasets and available versions
all_datasets = napi.list_datasets()
dataset_versions = list(set(d.split("/")[0] for d in all_datasets))
print("Available versions:\n", dataset_versions)

DATA_VERSION = "v5.3"
current_version_files = [f for f in all_datasets if f.startswith(DATA_VERSION)]
print("Available", DATA_VERSION, "files:\n", current_version_files)

# feature metadata: feature sets and targets
napi.download_dataset(f"{DATA_VERSION}/features.json")
feature_metadata = json.load(open(f"{DATA_VERSION}/features.json"))
for feature_set in ["small", "medium", "all", "quantum"]:
    print(feature_set, len(feature_metadata["feature_sets"][feature_set]))
feature_set = feature_metadata["feature_sets"][os.environ.get("FEATURE_SET", "small")]
assert "target" in feature_metadata["targets"]

# training data, every 4th era to save memory
napi.download_dataset(f"{DATA_VERSION}/train.parquet")
train = pd.read_parquet(f"{DATA_VERSION}/train.parquet", columns=["era", "target"] + feature_set)
train = train[train["era"].isin(train["era"].unique()[::4])]

model = lgb.LGBMRegressor(
    n_estimators=50,
    learning_rate=0.01,
    max_depth=5,
    num_leaves=2**5 - 1,
    colsample_bytree=0.1,
    verbose=-1,
)
model.fit(train[feature_set], train["target"])

# validation: predictions, CORR and MMC per era
napi.download_dataset(f"{DATA_VERSION}/validation.parquet")
validation = pd.read_parquet(f"{DATA_VERSION}/validation.parquet", columns=["era", "data_type", "target"] + feature_set)
validation = validation[validation["data_type"] == "validation"]
del validation["data_type"]
validation["prediction"] = model.predict(validation[feature_set])

napi.download_dataset("v4.3/meta_model.parquet", round_num=842)
validation["meta_model"] = pd.read_parquet("v4.3/meta_model.parquet")["numerai_meta_model"]

per_era_corr = validation.groupby("era").apply(lambda x: numerai_corr(x[["prediction"]].dropna(), x["target"].dropna()))
per_era_mmc = (
    validation.dropna()
    .groupby("era")
    .apply(lambda x: correlation_contribution(x[["prediction"]], x["meta_model"], x["target"]))
)
print("validation CORR mean", float(per_era_corr.mean().iloc[0]))
print("validation MMC mean", float(per_era_mmc.mean().iloc[0]))

# the benchmark models and example predictions are there too
napi.download_dataset(f"{DATA_VERSION}/validation_benchmark_models.parquet")
benchmarks = pd.read_parquet(f"{DATA_VERSION}/validation_benchmark_models.parquet")
print("benchmark models", list(benchmarks.columns))
napi.download_dataset(f"{DATA_VERSION}/live_example_preds.csv")


# predict live and upload
def predict(live_features: pd.DataFrame) -> pd.DataFrame:
    live_predictions = model.predict(live_features[feature_set])
    submission = pd.Series(live_predictions, index=live_features.index)
    return submission.to_frame("prediction")


napi.download_dataset(f"{DATA_VERSION}/live.parquet")
live_features = pd.read_parquet(f"{DATA_VERSION}/live.parquet", columns=feature_set)
predictions = predict(live_features)
predictions["prediction"] = predictions["prediction"].rank(pct=True)
predictions.to_csv("predictions.csv")

model_id = napi.get_models()[os.environ["NUMERAI_MODEL_NAME"]]
submission_id = napi.upload_predictions("predictions.csv", model_id=model_id)
print("submission", submission_id)
