"""A numerblox user's weekly job: nothing sandbox-specific in it.

numerblox's ``NumeraiClassicDownloader`` fetches v5.0's training, validation, live and feature
files (its default version); a scikit-learn model is trained on the small feature set; its live
predictions go out through ``NumeraiClassicSubmitter.full_submission`` for NUMERAI_MODEL_NAME, and
the same model goes up as a Model Upload pickle through ``NumeraiModelUpload`` for
NUMERAI_UPLOAD_MODEL_NAME. The keys come from NUMERAI_PUBLIC_ID / NUMERAI_SECRET_KEY; only the
API URL is set from outside.
"""

import os

import pandas as pd
from numerblox.download import NumeraiClassicDownloader
from numerblox.misc import Key
from numerblox.model_upload import NumeraiModelUpload
from numerblox.submission import NumeraiClassicSubmitter
from sklearn.linear_model import Ridge

downloader = NumeraiClassicDownloader("numerblox_data")
downloader.download_training_data("train_val")
downloader.download_live_data("live")
features = downloader.get_classic_features()["feature_sets"]["small"]

train = pd.read_parquet("numerblox_data/train_val/train.parquet", columns=[*features, "target"])
model = Ridge(alpha=1.0).fit(train[features], train["target"])

live = pd.read_parquet("numerblox_data/live/live.parquet", columns=features)
live["prediction"] = pd.Series(model.predict(live[features]), index=live.index).rank(pct=True)

key = Key(pub_id=os.environ["NUMERAI_PUBLIC_ID"], secret_key=os.environ["NUMERAI_SECRET_KEY"])
submitter = NumeraiClassicSubmitter(directory_path="numerblox_submissions", key=key, sleep_time=1)
submitter.full_submission(live, model_name=os.environ["NUMERAI_MODEL_NAME"], cols="prediction")

uploader = NumeraiModelUpload(key=key, sleep_time=1)
upload_id = uploader.create_and_upload_model(
    model, feature_cols=features, model_name=os.environ["NUMERAI_UPLOAD_MODEL_NAME"], file_path="numerblox_model.pkl"
)
print("model upload", upload_id)
