"""The analyst's credit-risk model (story step 5), trained on a governed query result.

scikit-learn is an optional extra (``ml``): it is imported only when the model is trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq

from lakemesh.demo.datasets import IDENTIFIER_NOTES
from lakemesh.errors import MissingExtra


class ModelScore(NamedTuple):
    train_rows: int
    test_rows: int
    accuracy: float
    auc: float


def train_credit_model(path: Path) -> ModelScore:
    """Story step 5's model: predict ``creditability`` from the product's features.

    Identifier columns (customer_id, full_name, email, iban) reach the consumer as keyed
    hashes: unique per customer, they carry no signal, so they are dropped. Categorical
    features are one-hot encoded; the split is stratified and seeded, so the score is the
    same on every run."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ModuleNotFoundError as e:
        raise MissingExtra("scikit-learn", "ml") from e
    import pandas as pd

    frame = pq.read_table(path).to_pandas()
    target = (frame.pop("creditability") == "good").astype(int)
    features = frame.drop(columns=[c for c in IDENTIFIER_NOTES if c in frame.columns])
    encoded = pd.get_dummies(features, dtype=float)  # text columns one-hot, numbers as-is
    x_train, x_test, y_train, y_test = train_test_split(
        encoded, target, test_size=0.25, random_state=0, stratify=target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    probabilities = model.predict_proba(x_test)[:, 1]
    return ModelScore(
        len(x_train),
        len(x_test),
        float(accuracy_score(y_test, model.predict(x_test))),
        float(roc_auc_score(y_test, probabilities)),
    )
