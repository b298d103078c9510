"""The classifier trainer: a torch MLP over embeddings (paper recipe), saving and scoring.

Public interface::

    config = initial_config()            # 1x16 hidden; later_config() -> 3x128
    model = train(features, labels, pool_features, config)
    probs = score_pool(model, pool_features)   # streams the pool in chunks, fastest path here
    plan = plan_scoring(model, pool_features); plan.score(pool_features); plan.describe()
    model.save(path); TrainedModel.load(path)
"""

from modeling.engine.int8 import Int8Features, quantize_int8
from modeling.engine.trainer.config import (
    INITIAL_HIDDEN,
    LATER_HIDDEN,
    TrainConfig,
    initial_config,
    later_config,
    original_config,
)
from modeling.engine.trainer.fit import train
from modeling.engine.trainer.model import TrainedModel
from modeling.engine.trainer.scoring import DEFAULT_CHUNK_ROWS, ScoringPlan, plan_scoring, score_pool

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "INITIAL_HIDDEN",
    "LATER_HIDDEN",
    "Int8Features",
    "ScoringPlan",
    "TrainConfig",
    "TrainedModel",
    "initial_config",
    "later_config",
    "original_config",
    "plan_scoring",
    "quantize_int8",
    "score_pool",
    "train",
]
