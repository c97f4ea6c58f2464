"""Framework callbacks (assay.integrations): each framework trains a tiny model on the CPU
for real, with its callback logging to an embedded store in a temporary folder; the test
then reads back the config, the metric series (compared with what the framework itself
reported), the summary and the model artifact. Also: a tracking failure inside a callback
never stops training, and an unsupported framework version is a clear InvalidInput."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput, StoreUnavailable
from assay.integrations import _common
from tests.conftest import QUIET


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def init(uri: str) -> dict[str, Any]:
    """``assay.init`` arguments every callback gets (quiet runs in the test's store)."""
    return {"project": "p", "uri": uri, "settings": QUIET}


def stored(uri: str, run_id: str) -> Any:
    with assay.Api(uri) as api:
        return api.run(run_id)


def series(run: Any, key: str) -> tuple[list[int], list[float]]:
    columns = run.history([key], format="numpy")[key]
    return [int(s) for s in columns.steps], [float(v) for v in columns.values]


def metric_keys(run: Any) -> set[str]:
    return {key for key in run.metrics if not key.startswith("system/")}


def artifacts(uri: str) -> list[Any]:
    with assay.Api(uri) as api:
        return [v for a in api.artifacts("p") for v in api.artifact_versions("p", a.name)]


def download(uri: str, version: Any, target: Path) -> Path:
    with assay.Api(uri) as api:
        return Path(api.artifact(f"p/{version.name}:v{version.version}").download(target))


@pytest.fixture(autouse=True)
def _no_silent_failures(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Any:
    """A test that does not break tracking on purpose (a fixture or a name saying so)
    must not have had a tracking step fail quietly."""
    yield
    if "broken_logging" in request.fixturenames or "failure" in request.node.name:
        return
    failed = [r.getMessage() for r in caplog.records if "training goes on" in r.getMessage()]
    assert not failed


@pytest.fixture
def broken_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every metric, summary and artifact call of every run raises."""

    def boom(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("the store went away")

    monkeypatch.setattr(assay.Run, "log", boom)
    monkeypatch.setattr(assay.Run, "log_artifact", boom)
    monkeypatch.setattr(assay.Run, "log_model", boom)


# ---- the package itself ---------------------------------------------------------------------


def test_importing_integrations_imports_no_framework() -> None:
    code = (
        "import sys, assay\n"
        "assert 'assay.integrations' not in sys.modules, 'import assay imported integrations'\n"
        "import assay.integrations\n"
        "from assay.integrations import keras, xgboost, lightgbm, lightning, transformers\n"
        "from assay.integrations import sklearn, optuna\n"
        "loaded = {'keras', 'xgboost', 'lightgbm', 'lightning', 'transformers', 'sklearn',\n"
        "          'optuna', 'torch', 'jax', 'tensorflow'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_version_parsing_and_the_message_naming_both_versions() -> None:
    assert _common.parse_version("3.15.1rc1") == (3, 15, 1)
    assert _common.parse_version("2.13.0+cpu") == (2, 13, 0)
    assert _common.parse_version("nightly") == ()
    assert _common.check_version("X", "2.0.1", "2.0", "3", "x") == "2.0.1"
    with pytest.raises(InvalidInput, match=r"supports X >= 2\.0, < 3; found X 3\.0\.0"):
        _common.check_version("X", "3.0.0", "2.0", "3", "x")
    with pytest.raises(InvalidInput, match=r"found X unknown"):
        _common.check_version("X", "unknown", "2.0", None, "x")


def test_a_framework_that_is_not_installed_is_named_with_how_to_install_it() -> None:
    with pytest.raises(InvalidInput, match=r"needs Frobnicator.*`pip install frobnicator`"):
        _common.import_framework("frobnicator_not_here", "Frobnicator", "frobnicator", "x")


def test_unknown_init_argument_is_refused_when_the_callback_is_made() -> None:
    with pytest.raises(InvalidInput, match=r"'projet' is not an argument of assay.init"):
        _common.Tracking("x", {"projet": "p"})


def test_config_tree_keeps_what_config_accepts_and_names_the_rest() -> None:
    from argparse import Namespace
    from enum import Enum

    class Colour(Enum):
        RED = "red"

    tree = _common.config_tree(
        {
            "a.b": 1,
            "nested": {"x": np.float32(0.5), "path": Path("/tmp/x"), "colour": Colour.RED},
            "ok": [1, "two", None],
            "objects": [object],
            "nan": float("nan"),
            "huge": 2**70,
            "args": Namespace(lr=0.1),
            "fn": len,
        }
    )
    assert tree["a_b"] == 1
    assert tree["nested"] == {"x": 0.5, "path": "/tmp/x", "colour": "red"}
    assert tree["ok"] == [1, "two", None]
    assert tree["objects"] == "[<class 'object'>]"
    assert (tree["nan"], tree["huge"]) == ("nan", str(2**70))
    assert tree["args"] == {"lr": 0.1}
    assert tree["fn"] == "<built-in function len>"


def test_failure_to_start_a_run_leaves_training_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(**kwargs: Any) -> None:
        raise StoreUnavailable("nobody home")

    tracking = _common.Tracking("x", {"project": "p"})
    monkeypatch.setattr(assay, "init", refuse)
    assert tracking.start() is None
    tracking.log({"loss": 1.0}, step=0)
    tracking.update_config({"lr": 0.1})
    tracking.finish()
    assert "starting a run failed; training goes on" in caplog.text


# ---- XGBoost ---------------------------------------------------------------------------------


class TestXGBoost:
    @pytest.fixture
    def data(self) -> tuple[Any, Any]:
        xgb = pytest.importorskip("xgboost")
        rng = np.random.default_rng(0)
        x = rng.random((120, 4))
        y = 2 * x[:, 0] + x[:, 1] + rng.normal(0, 0.05, 120)
        return xgb.DMatrix(x[:90], label=y[:90]), xgb.DMatrix(x[90:], label=y[90:])

    def test_config_metrics_summary_and_model(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str, tmp_path: Path
    ) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        train, valid = data
        params = {"max_depth": 2, "eta": 0.3, "eval_metric": ["rmse", "mae"]}
        callback = AssayCallback(params=params, log_model=True, model_name="xgb", **init)
        reported: dict[str, Any] = {}
        booster = xgb.train(
            params,
            train,
            6,
            evals=[(train, "train"), (valid, "valid")],
            evals_result=reported,
            verbose_eval=False,
            callbacks=[callback],
        )
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.status == "finished"
        assert run.config["xgboost"]["max_depth"] == 2
        assert run.config["xgboost"]["eta"] == 0.3
        assert run.config["xgboost"]["objective"] == "reg:squarederror"
        assert run.config["xgboost"]["eval_metric"] == ["rmse", "mae"]
        assert run.config["params"] == params
        assert metric_keys(run) == {"train/rmse", "train/mae", "valid/rmse", "valid/mae"}
        for data_name, metrics in reported.items():
            for metric, values in metrics.items():
                steps, logged = series(run, f"{data_name}/{metric}")
                assert steps == list(range(6))
                assert logged == pytest.approx(values, rel=1e-12)
        best = int(np.argmin(reported["valid"]["mae"]))  # last metric of the last set
        assert run.summary["best_iteration"] == best
        assert run.summary["best_score"] == pytest.approx(reported["valid"]["mae"][best])
        assert run.summary["best_metric"] == "valid/mae"
        assert run.summary["num_boosted_rounds"] == 6

        (version,) = artifacts(uri)
        assert (version.name, version.type, version.run_id) == ("xgb", "model", run.id)
        assert version.metadata["framework"] == "xgboost"
        folder = download(uri, version, tmp_path / "model")
        loaded = xgb.Booster(model_file=str(folder / "model.json"))
        assert np.array_equal(loaded.predict(valid), booster.predict(valid))

    def test_early_stopping_sets_the_best_iteration(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        train, valid = data
        callback = AssayCallback(**init)
        booster = xgb.train(
            {"max_depth": 6, "eta": 1.0},
            train,
            50,
            evals=[(valid, "valid")],
            early_stopping_rounds=2,
            verbose_eval=False,
            callbacks=[callback],
        )
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.summary["best_iteration"] == booster.best_iteration
        assert run.summary["best_score"] == pytest.approx(booster.best_score)
        steps, _ = series(run, "valid/rmse")
        assert steps == list(range(booster.num_boosted_rounds()))

    def test_cross_validation_logs_mean_and_std(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        callback = AssayCallback(**init)
        table = xgb.cv({"max_depth": 2}, data[0], 3, nfold=2, callbacks=[callback], seed=0)
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.config["xgboost"]["max_depth"] == 2
        assert run.summary["best_iteration"] == int(np.argmin(table["test-rmse-mean"]))
        assert series(run, "test/rmse")[1] == pytest.approx(list(table["test-rmse-mean"]))
        assert series(run, "test/rmse_std")[1] == pytest.approx(list(table["test-rmse-std"]))

    def test_an_active_run_is_used_and_left_running(self, data: tuple[Any, Any], uri: str) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        with assay.init(project="p", uri=uri, settings=QUIET) as run:
            xgb.train(
                {},
                data[0],
                2,
                evals=[(data[1], "valid")],
                verbose_eval=False,
                callbacks=[AssayCallback()],
            )
            assert run.status == "running"
        assert series(stored(uri, run.id), "valid/rmse")[0] == [0, 1]

    def test_scikit_learn_api_and_a_clone_of_the_estimator(
        self, init: dict[str, Any], uri: str
    ) -> None:
        import xgboost as xgb
        from sklearn.base import clone

        from assay.integrations.xgboost import AssayCallback

        x = np.random.default_rng(3).random((60, 3))
        y = x[:, 0]
        model = xgb.XGBRegressor(n_estimators=4, max_depth=2, callbacks=[AssayCallback(**init)])
        model.fit(x[:40], y[:40], eval_set=[(x[40:], y[40:])], verbose=False)
        copy = clone(model)  # the callback is copied with its options, not its run
        copy.fit(x[:40], y[:40], eval_set=[(x[40:], y[40:])], verbose=False)
        with assay.Api(uri) as api:
            runs = api.runs("p")
        assert len(runs) == 2
        for run in runs:
            assert run.status == "finished"
            assert series(run, "validation_0/rmse")[1] == pytest.approx(
                model.evals_result()["validation_0"]["rmse"]
            )

    def test_tracking_failures_do_not_stop_training(
        self,
        data: tuple[Any, Any],
        init: dict[str, Any],
        broken_logging: None,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        booster = xgb.train(
            {},
            data[0],
            3,
            evals=[(data[1], "valid")],
            verbose_eval=False,
            callbacks=[AssayCallback(log_model=True, **init)],
        )
        assert booster.num_boosted_rounds() == 3
        assert "assay.integrations.xgboost: logging metrics failed" in caplog.text

    def test_unsupported_version(self, data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        import xgboost as xgb

        from assay.integrations.xgboost import AssayCallback

        monkeypatch.setattr(xgb, "__version__", "1.7.6")
        with pytest.raises(InvalidInput, match=r"XGBoost >= 2\.0; found XGBoost 1\.7\.6"):
            AssayCallback()


# ---- LightGBM --------------------------------------------------------------------------------


class TestLightGBM:
    @pytest.fixture
    def data(self) -> tuple[Any, Any]:
        lgb = pytest.importorskip("lightgbm")
        rng = np.random.default_rng(1)
        x = rng.random((120, 4))
        y = 2 * x[:, 0] + x[:, 1] + rng.normal(0, 0.05, 120)
        train = lgb.Dataset(x[:90], y[:90])
        return train, lgb.Dataset(x[90:], y[90:], reference=train)

    PARAMS = {"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}

    def test_params_metrics_best_and_model(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str, tmp_path: Path
    ) -> None:
        import lightgbm as lgb

        from assay.integrations.lightgbm import assay_callback

        train, valid = data
        reported: dict[str, Any] = {}
        callback = assay_callback(log_model=True, model_name="lgb", **init)
        params = {**self.PARAMS, "metric": ["l2", "l1"]}
        booster = lgb.train(
            params,
            train,
            5,
            valid_sets=[train, valid],
            valid_names=["train", "valid"],
            callbacks=[callback, lgb.record_evaluation(reported)],
        )
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.status == "finished"
        assert run.config["lightgbm"]["num_leaves"] == 4
        assert run.config["lightgbm"]["metric"] == ["l2", "l1"]
        assert metric_keys(run) == {"train/l2", "train/l1", "valid/l2", "valid/l1"}
        for data_name, metrics in reported.items():
            for metric, values in metrics.items():
                steps, logged = series(run, f"{data_name}/{metric}")
                assert steps == list(range(5))
                assert logged == pytest.approx(list(values), rel=1e-12)
        best = int(np.argmin(reported["valid"]["l2"]))  # the first result on a validation set
        assert run.summary["best_iteration"] == best + 1
        assert run.summary["best_score"] == pytest.approx(reported["valid"]["l2"][best])
        assert run.summary["best_metric"] == "valid/l2"

        (version,) = artifacts(uri)
        assert (version.name, version.type, version.run_id) == ("lgb", "model", run.id)
        folder = download(uri, version, tmp_path / "model")
        loaded = lgb.Booster(model_file=str(folder / "model.txt"))
        x = np.random.default_rng(2).random((5, 4))
        assert np.allclose(loaded.predict(x), booster.predict(x))

    def test_early_stopping_then_finish(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        import lightgbm as lgb

        from assay.integrations.lightgbm import assay_callback

        train, valid = data
        callback = assay_callback(metric="valid_0/l2", **init)
        booster = lgb.train(
            {**self.PARAMS, "learning_rate": 1.0, "num_leaves": 31, "min_data_in_leaf": 1},
            train,
            200,
            valid_sets=[valid],
            callbacks=[callback, lgb.early_stopping(2, verbose=False)],
        )
        run = callback.tracking.run
        assert run is not None and booster.best_iteration < 198
        assert run.status == "running"  # LightGBM does not tell callbacks it stopped
        callback.finish()
        stored_run = stored(uri, run.id)
        assert stored_run.status == "finished"
        assert stored_run.summary["best_iteration"] == booster.best_iteration
        steps, _ = series(stored_run, "valid_0/l2")
        assert steps == list(range(booster.best_iteration + 2))  # 2: the patience

    def test_cross_validation_logs_mean_and_std(
        self, data: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        import lightgbm as lgb

        from assay.integrations.lightgbm import assay_callback

        callback = assay_callback(**init)
        table = lgb.cv(self.PARAMS, data[0], 3, nfold=2, stratified=False, callbacks=[callback])
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.status == "finished"
        assert series(run, "valid/l2")[1] == pytest.approx(table["valid l2-mean"])
        assert series(run, "valid/l2_std")[1] == pytest.approx(table["valid l2-stdv"])
        assert run.summary["best_metric"] == "valid/l2"

    def test_tracking_failures_do_not_stop_training(
        self, data: tuple[Any, Any], init: dict[str, Any], broken_logging: None
    ) -> None:
        import lightgbm as lgb

        from assay.integrations.lightgbm import assay_callback

        booster = lgb.train(
            self.PARAMS,
            data[0],
            3,
            valid_sets=[data[1]],
            callbacks=[assay_callback(log_model=True, **init)],
        )
        assert booster.current_iteration() == 3

    def test_unsupported_version(self, data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        import lightgbm as lgb

        from assay.integrations.lightgbm import assay_callback

        monkeypatch.setattr(lgb, "__version__", "3.3.5")
        with pytest.raises(InvalidInput, match=r"LightGBM >= 4\.0; found LightGBM 3\.3\.5"):
            assay_callback()


# ---- Keras 3 (on the CPU torch backend) ------------------------------------------------------


@pytest.fixture(scope="session")
def keras(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Keras 3, on the CPU torch of the test extra (it picks its backend when first
    imported), its config folder a temporary one rather than the user's ~/.keras."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("KERAS_HOME", str(tmp_path_factory.mktemp("keras-home")))
    return pytest.importorskip("keras")


class TestKeras:
    # Keras's torch backend turns variables into numpy arrays the way numpy 2 deprecates
    pytestmark = pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )

    @pytest.fixture
    def model(self, keras: Any) -> Any:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(4, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ],
            name="tiny",
        )
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return model

    @pytest.fixture
    def xy(self) -> tuple[Any, Any]:
        x = np.random.default_rng(0).random((64, 4)).astype("float32")
        return x, (x.sum(axis=1) > 2).astype("float32")

    def test_config_epoch_and_batch_metrics_and_best_model(
        self, model: Any, xy: tuple[Any, Any], init: dict[str, Any], uri: str, tmp_path: Path
    ) -> None:
        import keras

        from assay.integrations.keras import AssayCallback

        callback = AssayCallback(
            log_every_n_batches=2,
            save_model="best",
            model_name="tiny",
            config={"batch_size": 16},
            **init,
        )
        history = model.fit(
            *xy, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[callback]
        )
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.status == "finished"
        assert run.config["epochs"] == 3 and run.config["steps_per_epoch"] == 3
        assert run.config["batch_size"] == 16
        assert run.config["learning_rate"] == pytest.approx(0.01)
        assert run.config["optimizer"]["class"] == "Adam"
        assert run.config["model"] == {"name": "tiny", "class": "Sequential", "parameters": 25}
        assert run.config["loss"] == "binary_crossentropy"
        for key, values in history.history.items():
            steps, logged = series(run, key)
            assert steps == [0, 1, 2]
            assert logged == pytest.approx(values)
        assert series(run, "batch/loss")[0] == [2, 4, 6, 8]  # 9 batches in all
        best = int(np.argmin(history.history["val_loss"]))
        assert run.summary["epochs_trained"] == 3
        assert run.summary["best_epoch"] == best
        assert run.summary["best_val_loss"] == pytest.approx(history.history["val_loss"][best])

        (version,) = artifacts(uri)
        assert (version.name, version.type) == ("tiny", "model")
        assert version.metadata["epoch"] == best and "best" in version.aliases
        loaded = keras.models.load_model(download(uri, version, tmp_path / "m") / "model.keras")
        if best == 2:  # the last epoch was the best: the same weights
            assert np.allclose(loaded.predict(xy[0], verbose=0), model.predict(xy[0], verbose=0))

    def test_model_at_the_end_and_an_active_run(
        self, model: Any, xy: tuple[Any, Any], uri: str, tmp_path: Path
    ) -> None:
        import keras

        from assay.integrations.keras import AssayCallback

        with assay.init(project="p", uri=uri, settings=QUIET) as run:
            model.fit(
                *xy, epochs=2, batch_size=32, verbose=0, callbacks=[AssayCallback(save_model="end")]
            )
            assert run.status == "running"
        assert series(stored(uri, run.id), "loss")[0] == [0, 1]
        (version,) = artifacts(uri)
        assert version.metadata["epoch"] == 1 and "best" not in version.aliases
        loaded = keras.models.load_model(download(uri, version, tmp_path / "m") / "model.keras")
        assert np.allclose(loaded.predict(xy[0], verbose=0), model.predict(xy[0], verbose=0))

    def test_tracking_failures_do_not_stop_training(
        self, model: Any, xy: tuple[Any, Any], init: dict[str, Any], broken_logging: None
    ) -> None:
        from assay.integrations.keras import AssayCallback

        history = model.fit(
            *xy,
            epochs=2,
            verbose=0,
            validation_split=0.25,
            callbacks=[AssayCallback(save_model="best", **init)],
        )
        assert len(history.history["loss"]) == 2

    def test_bad_options_and_unsupported_version(
        self, model: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import keras

        from assay.integrations.keras import AssayCallback

        with pytest.raises(InvalidInput, match="save_model 'always'"):
            AssayCallback(save_model="always")
        monkeypatch.setattr(keras, "__version__", "2.15.0")
        with pytest.raises(InvalidInput, match=r"Keras >= 3\.0; found Keras 2\.15\.0"):
            AssayCallback()


# ---- Lightning -------------------------------------------------------------------------------

LIGHTNING_NOISE = [
    # Lightning's own deprecation notes and hints about a tiny CPU run
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*number of training batches.*:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*GPU available but not used.*:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*TPU available but not used.*:UserWarning"),
]


class TestLightning:
    pytestmark = LIGHTNING_NOISE

    @pytest.fixture
    def parts(self) -> tuple[Any, Any]:
        torch = pytest.importorskip("torch")
        lightning = pytest.importorskip("lightning")
        from torch.utils.data import DataLoader, TensorDataset

        class Tiny(lightning.LightningModule):
            def __init__(self, lr: float = 0.1, width: int = 3) -> None:
                super().__init__()
                self.save_hyperparameters()
                self.layer = torch.nn.Linear(width, 1)

            def _loss(self, batch: Any) -> Any:
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x).squeeze(-1), y)

            def training_step(self, batch: Any, index: int) -> Any:
                loss = self._loss(batch)
                self.log("train_loss", loss)
                return loss

            def validation_step(self, batch: Any, index: int) -> None:
                self.log("val_loss", self._loss(batch))

            def test_step(self, batch: Any, index: int) -> None:
                self.log("test_loss", self._loss(batch))

            def configure_optimizers(self) -> Any:
                return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

        torch.manual_seed(0)
        x = torch.rand(32, 3)
        return Tiny, DataLoader(TensorDataset(x, x.sum(dim=1)), batch_size=8)

    def trainer(self, logger: Any, root: Path, epochs: int = 2) -> Any:
        import lightning

        return lightning.Trainer(
            max_epochs=epochs,
            logger=logger,
            log_every_n_steps=1,
            accelerator="cpu",
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
        )

    def test_hyperparams_metrics_checkpoint_and_test_after_fit(
        self, parts: tuple[Any, Any], init: dict[str, Any], uri: str, tmp_path: Path
    ) -> None:
        import torch

        from assay.integrations.lightning import AssayLogger

        tiny, loader = parts
        logger = AssayLogger(log_model=True, model_name="tiny", **init)
        trainer = self.trainer(logger, tmp_path / "root")
        trainer.fit(tiny(lr=0.05), loader, loader)
        assert logger.version is not None and logger.name == "p"
        run = stored(uri, logger.version)
        assert run.status == "finished"
        assert run.config == {"lr": 0.05, "width": 3}
        steps, values = series(run, "train_loss")
        assert steps == list(range(8))  # 4 batches x 2 epochs, at the global step
        assert values[-1] == pytest.approx(float(trainer.logged_metrics["train_loss"]))
        assert series(run, "val_loss")[0] == [3, 7]
        assert run.summary["epoch"] == 1

        (version,) = artifacts(uri)
        assert (version.name, version.type, version.run_id) == ("tiny", "model", run.id)
        assert "best" in version.aliases
        folder = download(uri, version, tmp_path / "ckpt")
        (checkpoint,) = folder.glob("*.ckpt")
        saved = torch.load(checkpoint, weights_only=False)
        assert saved["global_step"] == 8

        trainer.test(trainer.lightning_module, loader, verbose=False)
        again = stored(uri, logger.version)
        assert again.status == "finished"
        assert series(again, "test_loss")[0] == [8]
        assert len(artifacts(uri)) == 1

    def test_active_run_failure_and_version(
        self,
        parts: tuple[Any, Any],
        uri: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import lightning

        from assay.integrations.lightning import AssayLogger

        tiny, loader = parts
        with assay.init(project="p", uri=uri, settings=QUIET) as run:
            logger = AssayLogger(log_model="all", model_name="every")
            self.trainer(logger, tmp_path / "a", epochs=1).fit(tiny(), loader, loader)
            assert run.status == "running"
        assert series(stored(uri, run.id), "train_loss")[0] == [0, 1, 2, 3]
        (version,) = artifacts(uri)  # one epoch, one checkpoint
        assert (version.name, version.run_id) == ("every", run.id)
        assert version.metadata["file"] == "epoch=0-step=4.ckpt"

        def boom(*args: Any, **kwargs: Any) -> None:
            raise StoreUnavailable("the store went away")

        monkeypatch.setattr(assay.Run, "log", boom)
        trainer = self.trainer(AssayLogger(project="p", uri=uri, settings=QUIET), tmp_path / "b")
        trainer.fit(tiny(), loader, loader)
        assert trainer.global_step == 8

        attempts: list[dict[str, Any]] = []

        def refuse(**kwargs: Any) -> None:
            attempts.append(kwargs)
            raise StoreUnavailable("nobody home")

        logger = AssayLogger(project="p", uri=uri, settings=QUIET)
        monkeypatch.setattr(assay, "init", refuse)
        trainer = self.trainer(logger, tmp_path / "c")
        trainer.fit(tiny(), loader, loader)
        assert trainer.global_step == 8
        assert len(attempts) == 1  # not tried again at every log call

        monkeypatch.setattr(lightning, "__version__", "1.9.5")
        with pytest.raises(InvalidInput, match=r"Lightning >= 2\.0; found Lightning 1\.9\.5"):
            AssayLogger()


# ---- Transformers ----------------------------------------------------------------------------


class TestTransformers:
    pytestmark = [
        pytest.mark.filterwarnings("ignore::DeprecationWarning"),
        pytest.mark.filterwarnings("ignore::FutureWarning"),
    ]

    @pytest.fixture
    def parts(self) -> tuple[Any, list[dict[str, Any]]]:
        torch = pytest.importorskip("torch")
        transformers = pytest.importorskip("transformers")
        pytest.importorskip("accelerate")
        torch.manual_seed(0)
        config = transformers.BertConfig(
            vocab_size=16,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=8,
            num_labels=2,
        )
        model = transformers.BertForSequenceClassification(config)  # random weights
        rows = [
            {
                "input_ids": torch.randint(0, 16, (6,)),
                "attention_mask": torch.ones(6, dtype=int),
                "labels": torch.tensor(i % 2),
            }
            for i in range(16)
        ]
        return model, rows

    def arguments(self, tmp_path: Path) -> Any:
        import transformers

        return transformers.TrainingArguments(
            output_dir=str(tmp_path / "out"),
            per_device_train_batch_size=4,
            num_train_epochs=2,
            logging_steps=2,
            eval_strategy="steps",
            eval_steps=4,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            learning_rate=1e-3,
        )

    def test_arguments_logs_summary_and_model(
        self, parts: Any, init: dict[str, Any], uri: str, tmp_path: Path
    ) -> None:
        import torch
        import transformers

        from assay.integrations.transformers import AssayCallback

        model, rows = parts
        callback = AssayCallback(log_model=True, model_name="bert", **init)
        trainer = transformers.Trainer(
            model=model,
            args=self.arguments(tmp_path),
            train_dataset=rows,
            eval_dataset=rows[:8],
            callbacks=[callback],
        )
        trainer.train()
        assert callback.tracking.run is not None
        run = stored(uri, callback.tracking.run.id)
        assert run.status == "finished"
        assert run.config["learning_rate"] == 1e-3
        assert run.config["train_batch_size"] == 4
        assert run.config["num_train_epochs"] == 2
        assert run.config["model_config"]["hidden_size"] == 8
        history = trainer.state.log_history
        train_logs = [h for h in history if "loss" in h]
        eval_logs = [h for h in history if "eval_loss" in h]
        assert series(run, "train/loss") == (
            [h["step"] for h in train_logs],
            pytest.approx([h["loss"] for h in train_logs]),
        )
        assert series(run, "train/learning_rate")[1] == pytest.approx(
            [h["learning_rate"] for h in train_logs]
        )
        assert series(run, "eval/loss") == (
            [h["step"] for h in eval_logs],
            pytest.approx([h["eval_loss"] for h in eval_logs]),
        )
        final = history[-1]
        assert run.summary["train_loss"] == pytest.approx(final["train_loss"])
        assert run.summary["train_runtime"] == pytest.approx(final["train_runtime"])
        assert run.summary["global_step"] == trainer.state.global_step == 8
        assert "train/train_loss" not in run.metrics

        later = trainer.evaluate()  # logged to the same run, resumed and finished again
        again = stored(uri, run.id)
        assert again.status == "finished"
        assert series(again, "eval/loss")[1][-1] == pytest.approx(later["eval_loss"])

        (version,) = artifacts(uri)
        assert (version.name, version.type) == ("bert", "model")
        folder = download(uri, version, tmp_path / "model")
        loaded = transformers.BertForSequenceClassification.from_pretrained(folder)
        batch = {k: torch.stack([r[k] for r in rows[:4]]) for k in ("input_ids", "attention_mask")}
        model.eval()
        with torch.no_grad():
            assert torch.allclose(loaded(**batch).logits, model(**batch).logits)

    def test_tracking_failures_and_version(
        self,
        parts: Any,
        init: dict[str, Any],
        tmp_path: Path,
        broken_logging: None,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import transformers

        from assay.integrations.transformers import AssayCallback

        model, rows = parts
        trainer = transformers.Trainer(
            model=model,
            args=self.arguments(tmp_path),
            train_dataset=rows,
            eval_dataset=rows[:8],
            callbacks=[AssayCallback(log_model=True, **init)],
        )
        trainer.train()
        assert trainer.state.global_step == 8

        monkeypatch.setattr(transformers, "__version__", "4.20.1")
        with pytest.raises(InvalidInput, match=r"Transformers >= 4\.36; found Transformers 4\.20"):
            AssayCallback()


# ---- scikit-learn ----------------------------------------------------------------------------


class TestSklearn:
    @pytest.fixture(autouse=True)
    def _off_afterwards(self) -> Iterator[None]:
        pytest.importorskip("sklearn")
        yield
        from assay.integrations.sklearn import autolog

        autolog(disable=True)

    @pytest.fixture
    def xy(self) -> tuple[Any, Any]:
        x = np.random.default_rng(0).random((60, 3))
        return x, (x[:, 0] > 0.5).astype(int)

    def runs(self, uri: str) -> list[Any]:
        with assay.Api(uri) as api:
            return api.runs("p")

    def test_fit_logs_params_training_score_and_model(
        self, xy: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        pytest.importorskip("skops")
        from sklearn.linear_model import LogisticRegression

        from assay.integrations.sklearn import autolog

        autolog(**init)
        model = LogisticRegression(C=0.5).fit(*xy)
        (run,) = self.runs(uri)
        assert run.status == "finished"
        assert run.config["estimator"] == "LogisticRegression"
        assert run.config["C"] == 0.5 and run.config["max_iter"] == 100
        assert series(run, "train/accuracy") == ([0], [pytest.approx(model.score(*xy))])
        (version,) = artifacts(uri)
        assert version.run_id == run.id and version.type == "model"
        loaded = assay.models.load(f"p/{version.name}:latest", uri=uri)
        assert np.array_equal(loaded.predict(xy[0]), model.predict(xy[0]))

    def test_one_run_per_outermost_fit_and_disable(
        self, xy: tuple[Any, Any], init: dict[str, Any], uri: str
    ) -> None:
        from sklearn.linear_model import LinearRegression, LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from assay.integrations.sklearn import autolog, enabled

        original = LogisticRegression.fit
        autolog(log_models=False, **init)
        assert enabled() and LogisticRegression.fit is not original
        make_pipeline(StandardScaler(), LogisticRegression()).fit(*xy)
        LinearRegression().fit(xy[0], xy[0][:, 0])
        runs = {r.config["estimator"]: r for r in self.runs(uri)}
        assert set(runs) == {"Pipeline", "LinearRegression"}
        assert runs["Pipeline"].config["logisticregression__C"] == 1.0
        assert "train/accuracy" in runs["Pipeline"].metrics
        assert series(runs["LinearRegression"], "train/r2")[1] == [pytest.approx(1.0)]
        assert artifacts(uri) == []

        autolog(disable=True)
        assert not enabled() and LogisticRegression.fit is original
        LogisticRegression().fit(*xy)
        assert len(self.runs(uri)) == 2

    def test_active_run_failed_fit_and_tracking_failure(
        self,
        xy: tuple[Any, Any],
        init: dict[str, Any],
        uri: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        from assay.integrations.sklearn import autolog

        autolog(log_models=False, **init)
        with assay.init(project="p", uri=uri, settings=QUIET, name="mine") as run:
            LogisticRegression().fit(*xy)
            assert run.status == "running"
        assert stored(uri, run.id).config["estimator"] == "LogisticRegression"

        with pytest.raises(ValueError):
            LogisticRegression().fit(xy[0], xy[1][:10])  # the fit's own error comes through
        failed = [r for r in self.runs(uri) if r.status == "failed"]
        assert len(failed) == 1

        def boom(*args: Any, **kwargs: Any) -> None:
            raise StoreUnavailable("the store went away")

        monkeypatch.setattr(assay.Run, "log", boom)
        monkeypatch.setattr(assay.Run, "log_model", boom)
        autolog(**init)
        assert LogisticRegression().fit(*xy).coef_.shape == (1, 3)

    def test_unsupported_version(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import sklearn

        from assay.integrations.sklearn import autolog

        monkeypatch.setattr(sklearn, "__version__", "1.2.2")
        with pytest.raises(InvalidInput, match=r"scikit-learn >= 1\.3; found scikit-learn 1\.2"):
            autolog()


# ---- Optuna ----------------------------------------------------------------------------------


class TestOptuna:
    @pytest.fixture
    def optuna(self) -> Any:
        optuna = pytest.importorskip("optuna")
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        return optuna

    def test_each_trial_a_run_in_the_study_group(
        self, optuna: Any, init: dict[str, Any], uri: str
    ) -> None:
        from assay.integrations.optuna import AssayCallback

        def objective(trial: Any) -> float:
            x = trial.suggest_float("x", -2, 2)
            trial.suggest_int("depth", 1, 4)
            for step in range(3):
                trial.report((x - 1) ** 2 + step, step)
                if trial.number == 1 and step == 1:
                    raise optuna.TrialPruned()
            if trial.number == 2:
                raise RuntimeError("diverged")
            trial.set_user_attr("note", "ok")
            return float((x - 1) ** 2)

        callback = AssayCallback(tags=["search"], **init)
        study = optuna.create_study(
            study_name="lr-search", sampler=optuna.samplers.RandomSampler(seed=0)
        )
        study.optimize(objective, n_trials=4, callbacks=[callback], catch=(RuntimeError,))
        assert sorted(callback.run_ids) == [0, 1, 2, 3]
        for trial in study.trials:
            run = stored(uri, callback.run_ids[trial.number])
            state = trial.state.name.lower()
            assert (run.name, run.group, run.job_type) == (
                f"trial-{trial.number}",
                "lr-search",
                "optuna-trial",
            )
            assert run.status == {"complete": "finished", "pruned": "killed"}.get(state, "failed")
            assert set(run.tags) == {"optuna", state, "search"}
            assert run.config["x"] == trial.params["x"]
            assert run.config["depth"] == trial.params["depth"]
            assert run.config["optuna"]["study"] == "lr-search"
            steps, values = series(run, "intermediate_value")
            assert steps == sorted(trial.intermediate_values)
            assert values == pytest.approx([trial.intermediate_values[s] for s in steps])
            assert run.summary["trial_number"] == trial.number
            assert run.summary["state"] == state
            if trial.value is not None:  # a pruned trial's is its last intermediate value
                assert run.summary["value"] == pytest.approx(trial.value)
            else:
                assert "value" not in run.summary
            if state == "complete":
                assert run.summary["user_attrs"] == {"note": "ok"}

    def test_tracking_failure_and_version(
        self, optuna: Any, init: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from assay.integrations.optuna import AssayCallback

        def refuse(**kwargs: Any) -> None:
            raise StoreUnavailable("nobody home")

        callback = AssayCallback(**init)
        monkeypatch.setattr(assay, "init", refuse)
        study = optuna.create_study()
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, callbacks=[callback])
        assert len(study.trials) == 2 and callback.run_ids == {}

        monkeypatch.setattr(optuna, "__version__", "2.10.1")
        with pytest.raises(InvalidInput, match=r"Optuna >= 3\.0; found Optuna 2\.10\.1"):
            AssayCallback()
