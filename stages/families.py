"""The model families `train.model` names: how each is built, fit and made servable.

scikit-learn's two (hist_gradient_boosting, random_forest) are served as they are: the walk
reads their trees directly. The boosting libraries (xgboost, lightgbm, catboost) are fit with
their scikit-learn wrappers, then read from the library's own dump (XGBoost's and CatBoost's
JSON model, LightGBM's `dump_model`) into a `TreeEnsemble`: the artifact never holds a
library object, so the service loads it without the library. Each reader refuses what the
walk does not implement (categorical splits, other losses) instead of serving it wrongly.

Every fit uses TRAINING_THREADS and a seed: the same model, hence the same bytes, anywhere.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from threadpoolctl import threadpool_limits

from imdb_rating.trees import Tree, UnsupportedModelError, flatten, record_library_trees

FAMILIES = ("hist_gradient_boosting", "random_forest", "xgboost", "lightgbm", "catboost")
SKLEARN_FAMILIES, LIBRARY_FAMILIES = FAMILIES[:2], FAMILIES[2:]
# HistGradientBoosting (and each library) sums gradients in one chunk per thread, so a model's
# bytes depend on the thread count: every fit uses this many, whatever the machine's cores.
TRAINING_THREADS = 2
# LightGBM's kZeroThreshold: 1e-35f, as a double.
LIGHTGBM_ZERO = float(np.float32(1e-35))


def make_model(family: str, hyper: dict[str, Any], seed: int) -> Any:
    """An unfitted model of `family`; TypeError names a misspelt hyper-parameter."""
    if family == "random_forest":
        return RandomForestRegressor(**hyper, n_jobs=-1, random_state=seed)
    if family == "hist_gradient_boosting":
        # Early stopping would hold out its own random share; the fit uses all it is given.
        return HistGradientBoostingRegressor(**hyper, early_stopping=False, random_state=seed)
    if family == "xgboost":
        import xgboost

        _check_names(xgboost.XGBRegressor().get_params(), hyper)
        return xgboost.XGBRegressor(
            **hyper, tree_method="hist", n_jobs=TRAINING_THREADS, random_state=seed
        )
    if family == "lightgbm":
        import lightgbm

        # Beside the wrapper's own, LightGBM's parameter names and aliases (a pinned version's
        # table: the wrapper passes them to the booster as they are).
        aliases = lightgbm.basic._ConfigAliases._get_all_param_aliases()
        known = {alias for names in aliases.values() for alias in names}
        _check_names(lightgbm.LGBMRegressor().get_params().keys() | known, hyper)
        return lightgbm.LGBMRegressor(
            **hyper,
            n_jobs=TRAINING_THREADS,
            random_state=seed,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
        )
    if family == "catboost":
        import catboost

        return catboost.CatBoostRegressor(
            **hyper,
            thread_count=TRAINING_THREADS,
            random_seed=seed,
            verbose=0,
            allow_writing_files=False,
        )
    raise ValueError(f"unknown family {family!r}: use one of {', '.join(FAMILIES)}")


def _check_names(known: Iterable[str], hyper: dict[str, Any]) -> None:
    # XGBoost and LightGBM pass unknown keyword arguments on to the booster, which ignores or
    # warns about them: a misspelt parameter would silently train something else.
    unknown = sorted(set(hyper) - set(known))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")


def servable(model: Any) -> Any:
    """What the artifact holds: scikit-learn's models as they are (a forest predicts on one
    thread: one request is one row, and fan-out costs ~16 ms), a library's trees read from its
    dump as a TreeEnsemble."""
    if isinstance(model, RandomForestRegressor):
        return model.set_params(n_jobs=1)
    if isinstance(model, HistGradientBoostingRegressor):
        return model
    module = type(model).__module__.split(".")[0]
    readers = {"xgboost": _xgboost_trees, "lightgbm": _lightgbm_trees, "catboost": _catboost_trees}
    if module not in readers:
        raise UnsupportedModelError(f"{type(model).__name__} cannot be served")
    trees, baseline, input_dtype, sum_dtype = readers[module](model)

    def library_predict(rows: np.ndarray) -> np.ndarray:
        with threadpool_limits(1, user_api="openmp"):
            return model.predict(rows)

    ensemble = record_library_trees(
        module, trees, baseline, input_dtype, sum_dtype, model.n_features_in_, library_predict
    )
    flatten(ensemble)  # the walk reproduces the library now, or training fails here
    return ensemble


def _xgboost_trees(model) -> tuple[list[Tree], float, str, str]:
    learner = json.loads(model.get_booster().save_raw("json"))["learner"]
    if learner["objective"]["name"] != "reg:squarederror":
        raise UnsupportedModelError(f"objective {learner['objective']['name']}")
    booster = learner["gradient_booster"]
    if booster["name"] != "gbtree":
        raise UnsupportedModelError(f"booster {booster['name']}")
    trees = []
    for tree in booster["model"]["trees"]:
        if tree["categories_nodes"]:
            raise UnsupportedModelError("categorical splits are not supported")
        left = np.asarray(tree["left_children"], dtype=np.int64)
        leaf = left == -1
        # float32 values printed in their shortest form: float32 again, exactly.
        condition = np.asarray(tree["split_conditions"], dtype=np.float32)
        # XGBoost goes left when x < condition; for float32 inputs, x <= the float below it.
        below = np.nextafter(condition, np.float32(-np.inf)).astype(np.float64)
        trees.append(
            Tree(
                feature=np.asarray(tree["split_indices"], dtype=np.int64),
                threshold=np.where(leaf, 0.0, below),
                left=np.where(leaf, -1, left),
                right=np.where(leaf, -1, np.asarray(tree["right_children"], dtype=np.int64)),
                missing_left=np.asarray(tree["default_left"], dtype=bool),
                value=np.where(leaf, condition.astype(np.float64), 0.0),
            )
        )
    base_score = learner["learner_model_param"]["base_score"].strip("[]")
    return trees, float(np.float32(base_score)), "float32", "float32"


class _TreeBuilder:
    """One tree's nodes, appended in preorder; a leaf's children are -1 (scikit-learn's way)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[Any]] = {part: [] for part in Tree.__annotations__}

    def leaf(self, value: float) -> int:
        return self._append(feature=0, threshold=0.0, missing_left=False, value=value)

    def split(self, feature: int, threshold: float, missing_left: bool) -> int:
        """A split whose children are set by `link` once they are appended."""
        return self._append(
            feature=feature, threshold=threshold, missing_left=missing_left, value=0.0
        )

    def link(self, split: int, left: int, right: int) -> None:
        self.parts["left"][split], self.parts["right"][split] = left, right

    def _append(self, **node: Any) -> int:
        for part, value in (node | {"left": -1, "right": -1}).items():
            self.parts[part].append(value)
        return len(self.parts["value"]) - 1

    def tree(self) -> Tree:
        return Tree(**{part: np.asarray(values) for part, values in self.parts.items()})


def _lightgbm_trees(model) -> tuple[list[Tree], float, str, str]:
    dump = model.booster_.dump_model()
    if dump["objective"].split()[0] != "regression" or dump["average_output"]:
        raise UnsupportedModelError(f"objective {dump['objective']}")
    trees = []
    for info in dump["tree_info"]:
        builder = _TreeBuilder()
        _lightgbm_node(info["tree_structure"], builder)
        trees.append(builder.tree())
    return trees, 0.0, "float64", "float64"


def _lightgbm_node(node: dict[str, Any], builder: _TreeBuilder) -> int:
    """Append `node`'s subtree; its index."""
    if "leaf_value" in node:
        return builder.leaf(float(node["leaf_value"]))
    if node["decision_type"] != "<=":
        raise UnsupportedModelError("categorical splits are not supported")
    threshold = float(node["threshold"])
    if node["missing_type"] == "NaN":
        missing_left = bool(node["default_left"])
    elif node["missing_type"] == "None":  # LightGBM reads a missing value as 0
        missing_left = threshold >= 0.0
    else:
        raise UnsupportedModelError(f"missing type {node['missing_type']} is not supported")
    # LightGBM reads any input within its zero band as 0 (a dense row becomes sparse pairs):
    # a threshold inside the band moves to the band's edge on its side.
    if -LIGHTGBM_ZERO <= threshold < 0:
        threshold = float(np.nextafter(-LIGHTGBM_ZERO, -np.inf))
    elif 0 <= threshold < LIGHTGBM_ZERO:
        threshold = LIGHTGBM_ZERO
    index = builder.split(node["split_feature"], threshold, missing_left)
    left = _lightgbm_node(node["left_child"], builder)
    builder.link(index, left, _lightgbm_node(node["right_child"], builder))
    return index


def _catboost_trees(model) -> tuple[list[Tree], float, str, str]:
    """CatBoost's trees are oblivious: one split per level, the leaf numbered by the levels'
    outcomes (bit j set when split j's `x > border`). Each becomes a full binary tree."""
    raw = json.loads(_catboost_json(model))
    features = raw["features_info"]
    if set(features) - {"float_features"}:
        raise UnsupportedModelError("only numeric features are supported")
    by_index = {feature["feature_index"]: feature for feature in features["float_features"]}
    scale, (bias,) = raw["scale_and_bias"]
    trees = []
    for tree in raw["oblivious_trees"]:
        if any(split["split_type"] != "FloatFeature" for split in tree["splits"]):
            raise UnsupportedModelError("only numeric splits are supported")
        builder = _TreeBuilder()
        levels = [
            (
                by_index[split["float_feature_index"]],
                float(np.float32(split["border"])),  # CatBoost compares in float32
            )
            for split in tree["splits"]
        ]
        leaves = [value * scale for value in tree["leaf_values"]]
        _oblivious_node(levels, leaves, 0, 0, builder)
        trees.append(builder.tree())
    return trees, float(bias), "float32", "float64"


def _oblivious_node(
    levels: list[tuple[dict[str, Any], float]],
    leaves: list[float],
    level: int,
    leaf_index: int,
    builder: _TreeBuilder,
) -> int:
    if level == len(levels):
        return builder.leaf(leaves[leaf_index])
    feature, border = levels[level]
    missing_left = feature["nan_value_treatment"] != "AsTrue"
    index = builder.split(feature["flat_feature_index"], border, missing_left)
    left = _oblivious_node(levels, leaves, level + 1, leaf_index, builder)
    right = _oblivious_node(levels, leaves, level + 1, leaf_index | 1 << level, builder)
    builder.link(index, left, right)
    return index


def _catboost_json(model) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        return path.read_text(encoding="utf-8")
