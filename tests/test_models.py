"""Model references and the registry's audit records, model flavours (and flavour plugins),
and the SDK's artifact calls (the registry's contract is tests/contract/test_models.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.flavours import saved as flavours
from assay.store import Store
from assay.store.sql.store import SqlStore
from tests.conftest import QUIET, StoreFactory, log_model


def test_model_refs_resolve_in_use_artifact(store: Store, tmp_path: Path) -> None:
    from assay.artifacts.artifact import resolve

    a = log_model(store, tmp_path, b"one")
    store.models.register(a.id, "clf")
    store.models.set_alias("clf", "production", 1)
    for ref in ("models:/clf@production", "models:/clf/1", "models:/clf"):
        assert resolve(store, ref, None).id == a.id
    with pytest.raises(InvalidInput, match="model reference"):
        resolve(store, "models:/clf@", None)


def test_audit_records_versions_aliases_and_registrations(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    from assay.store.sql import audit

    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    a = log_model(store, tmp_path, b"one")
    store.artifacts.set_alias("p", "digits-model", "candidate", 0)
    store.models.register(a.id, "clf")
    store.models.set_alias("clf", "production", 1, reason="why")
    actions = [r.action for r in audit.records(store.engine)]
    assert actions[-4:] == [
        "artifact.version_created",
        "artifact.alias_moved",
        "model.registered",
        "model.alias_moved",
    ]
    assert audit.verify(store.engine).ok


def test_audit_records_traffic_policies_set_and_cleared(
    sql_store_factory: StoreFactory, tmp_path: Path
) -> None:
    from assay.store.sql import audit

    store = sql_store_factory()
    assert isinstance(store, SqlStore)
    a = log_model(store, tmp_path, b"one")
    store.models.register(a.id, "clf")
    store.models.set_alias("clf", "production", 1)
    store.models.set_traffic("clf", {"production": 100}, shadow={"1": 5}, reason="shadow")
    store.models.set_traffic("clf", None, reason="done")
    records = audit.records(store.engine)[-2:]
    assert [(r.action, r.target) for r in records] == [
        ("model.traffic_set", "model:clf"),
        ("model.traffic_cleared", "model:clf"),
    ]
    assert audit.verify(store.engine).ok


# ---- the SDK ----------------------------------------------------------------------------------


def test_a_run_logs_uses_and_registers_through_the_sdk(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    uri = str(tmp_path / "store")
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    with assay.init(project="digits", uri=uri, settings=QUIET) as prep:
        logged = prep.log_artifact(
            data, name="digits-train", metadata={"rows": 1}, aliases=["gold"]
        )
    assert logged is not None and logged.metadata == {"rows": 1}
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    clf = LogisticRegression().fit(x, y)
    with assay.init(project="digits", uri=uri, settings=QUIET) as train:
        used = train.use_artifact("digits-train:gold")
        assert used is not None and (used.download() / "train.csv").read_text() == "x,y\n1,0\n"
        model = train.log_model(clf, "digits-model")
    assert model is not None and model.metadata["flavour"] == "sklearn"
    mv = assay.register_model("digits/digits-model:latest", name="digits-classifier", uri=uri)
    assay.models.set_alias("digits-classifier", "production", mv.version, reason="r", uri=uri)
    loaded = assay.models.load("models:/digits-classifier@production", uri=uri)
    assert np.array_equal(loaded.predict(x), clf.predict(x))
    assert assay.models.get("models:/digits-classifier@production", uri=uri).version == 1
    with assay.Api(uri) as api:
        graph = api.lineage("digits/digits-model:v0", direction="up")
        assert {n.label for n in graph.nodes.values()} >= {"digits-model:v0", "digits-train:v0"}
        assert api.artifact("digits/digits-train:gold").version.id == logged.id


def test_disabled_runs_log_no_artifacts_and_offline_runs_say_why(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with assay.init(project="p", mode="disabled") as run:
        assert run.log_artifact(tmp_path / "f.txt") is None
        assert run.use_artifact("f:latest") is None
    offline = assay.init(project="p", uri=str(tmp_path / "s"), mode="offline", settings=QUIET)
    with offline as run, pytest.raises(InvalidInput, match="offline"):
        run.log_artifact(tmp_path / "f.txt")


class Doubler:
    """A generic-flavour model: save(path) and a load(path) classmethod."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def predict(self, inputs: list[int]) -> list[int]:
        return [self.factor * i for i in inputs]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"factor": self.factor}))

    @classmethod
    def load(cls, path: Path) -> Doubler:
        return cls(json.loads(path.read_text())["factor"])


def test_flavours_round_trip(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x, y = np.random.default_rng(1).normal(size=(30, 2)), np.arange(30) % 3
    tree = DecisionTreeClassifier().fit(x, y)
    flavours.save(tree, tmp_path / "sk")
    assert flavours.read_descriptor(tmp_path / "sk")["flavour"] == "sklearn"
    assert np.array_equal(flavours.load(tmp_path / "sk").predict(x), tree.predict(x))

    flavours.save(Doubler(3), tmp_path / "py")
    assert flavours.load(tmp_path / "py").predict([1, 2]) == [3, 6]
    assert flavours.load(tmp_path / "py", cls=Doubler).predict([2]) == [6]


def test_onnx_models_load_as_inference_sessions(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    flavours.save(model, tmp_path / "onnx")
    session: Any = flavours.load(tmp_path / "onnx")
    out = session.run(None, {"x": np.array([[-1.0, 2.0]], dtype=np.float32)})[0]
    assert out.tolist() == [[0.0, 2.0]]


def test_pickles_load_only_when_asked(tmp_path: Path) -> None:
    flavours.save({"weights": [1, 2]}, tmp_path / "pk", flavour="pickle")
    with pytest.raises(InvalidInput, match="allow_pickle=True"):
        flavours.load(tmp_path / "pk")
    assert flavours.load(tmp_path / "pk", allow_pickle=True) == {"weights": [1, 2]}


def test_skops_refuses_untrusted_types_unless_listed(tmp_path: Path) -> None:
    import math

    from sklearn.preprocessing import FunctionTransformer

    flavours.save(FunctionTransformer(math.sqrt), tmp_path / "ft", flavour="sklearn")
    with pytest.raises(InvalidInput, match=r"does not trust by default: math\.sqrt"):
        flavours.load(tmp_path / "ft")
    assert flavours.load(tmp_path / "ft", trusted=["math.sqrt"]).func is math.sqrt


def test_unknown_models_and_missing_descriptors_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="pass flavour="):
        flavours.save(object(), tmp_path / "x")
    with pytest.raises(InvalidInput, match=r"assay-model\.json"):
        flavours.load(tmp_path)
    torch_state = tmp_path / "t"
    torch_state.mkdir()
    (torch_state / flavours.DESCRIPTOR).write_text('{"flavour": "nope"}')
    with pytest.raises(InvalidInput, match="unknown flavour"):
        flavours.load(torch_state)


def test_torch_flavour_loads_state_dicts_with_weights_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiring of the torch flavour against a stand-in ``torch`` module (PyTorch itself
    is not installed here): state dicts load with weights_only=True into the module the
    caller's constructor builds, and never without one."""
    import pickle
    import sys
    import types

    calls: dict[str, Any] = {}
    fake = types.ModuleType("torch")

    class ScriptModule:
        pass

    def save(obj: Any, path: Any) -> None:
        Path(path).write_bytes(pickle.dumps(obj))

    def load(path: Any, weights_only: bool = False) -> Any:
        calls["weights_only"] = weights_only
        return pickle.loads(Path(path).read_bytes())

    fake.save, fake.load = save, load  # type: ignore[attr-defined]
    fake.jit = types.SimpleNamespace(ScriptModule=ScriptModule)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", fake)

    class Net:
        __module__ = "torch.nn"

        def __init__(self) -> None:
            self.state: dict[str, list[float]] = {"w": [0.0]}

        def state_dict(self) -> dict[str, list[float]]:
            return self.state

        def load_state_dict(self, state: dict[str, list[float]]) -> None:
            self.state = state

        def eval(self) -> None:
            calls["eval"] = True

    trained = Net()
    trained.state = {"w": [1.5, 2.5]}
    assert flavours.save(trained, tmp_path / "t")["format"] == "state_dict"
    with pytest.raises(InvalidInput, match="constructor="):
        flavours.load(tmp_path / "t")
    loaded = flavours.load(tmp_path / "t", constructor=Net)
    assert loaded.state == {"w": [1.5, 2.5]}
    assert calls == {"weights_only": True, "eval": True}


# ---- flavour plugins --------------------------------------------------------------------------

PLUGIN = """
import json
from assay.evaluation.scorers import accuracy
from assay.flavours.flavour import Predictor


class Echo:
    def __init__(self, prefix):
        self.prefix = prefix


class EchoFlavour:
    name = "echo"

    def detect(self, obj):
        return isinstance(obj, Echo)

    def save(self, obj, folder):
        (folder / "echo.json").write_text(json.dumps({"prefix": obj.prefix}))
        return {"file": "echo.json"}

    def load(self, folder, metadata, options):
        return Echo(json.loads((folder / metadata["file"]).read_text())["prefix"])

    def predictor(self, model, metadata):
        return Predictor(call=lambda rows, columns: [model.prefix + r["text"] for r in rows])


def shouty(name="shouty"):
    return accuracy(name=name)
"""

ENTRY_POINTS = """\
[assay.flavours]
echo = assay_echo_plugin:EchoFlavour
broken = assay_broken_plugin:flavour

[assay.scorers]
shouty = assay_echo_plugin:shouty
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fake installed distribution declaring a flavour, a scorer and a broken flavour, and
    fresh registries (so discovery happens again, and once)."""
    from assay.evaluation import scorers

    site = tmp_path / "site"
    info = site / "assay_echo-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: assay-echo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "assay_echo_plugin.py").write_text(PLUGIN)
    (site / "assay_broken_plugin.py").write_text("raise ImportError('needs libecho 2')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(flavours, "FLAVOURS", flavours._registry())
    monkeypatch.setattr(scorers, "SCORERS", scorers._scorers())
    import importlib

    importlib.invalidate_caches()
    return importlib.import_module("assay_echo_plugin")


def test_entry_point_flavours_are_found_by_name_and_detected(plugins: Any, tmp_path: Path) -> None:
    assert "echo" not in [f.name for f in flavours.FLAVOURS.loaded()]  # nothing read yet
    descriptor = flavours.save(plugins.Echo(">> "), tmp_path / "m")
    assert descriptor == {"flavour": "echo", "file": "echo.json"}
    loaded = flavours.load(tmp_path / "m")
    predictor = flavours.flavour("echo").predictor(loaded, descriptor)
    assert predictor([{"text": "hi"}, {"text": "yo"}]) == [">> hi", ">> yo"]
    assert flavours.save(plugins.Echo("x"), tmp_path / "n", flavour="echo")["flavour"] == "echo"


def test_entry_point_scorers_are_found_by_name(plugins: Any) -> None:
    from assay.evaluation import scorers

    assert scorers.from_spec("shouty").name == "shouty"
    assert scorers.from_spec({"shouty": {"name": "loud"}}).name == "loud"


def test_a_broken_plugin_is_named_not_fatal(plugins: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"flavour plugin 'broken'.*needs libecho 2"):
        flavours.save(object(), tmp_path / "b", flavour="broken")
    with pytest.raises(InvalidInput, match="pass flavour="):  # detection skips it
        flavours.save(object(), tmp_path / "b")
    assert flavours.detect(plugins.Echo("")) == "echo"


def test_assay_plugins_lists_built_ins_entry_points_and_broken_ones(plugins: Any) -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli

    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("sklearn" in line and "built-in" in line for line in lines)
    assert any("echo" in line and "assay_echo_plugin:EchoFlavour" in line for line in lines)
    assert any("shouty" in line and "assay-echo" in line for line in lines)
    broken = [line for line in lines if "broken" in line]
    assert broken and "failed" in broken[0] and "needs libecho 2" in result.output


def test_built_in_flavours_need_no_entry_point_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def scan(**_: Any) -> Any:
        raise AssertionError("entry points read for a built-in name")

    monkeypatch.setattr(metadata, "entry_points", scan)
    fresh = flavours._registry()
    assert fresh.get("sklearn").name == "sklearn"
    assert [f.name for f in fresh.loaded()] == ["torch", "onnx", "python", "sklearn", "pickle"]


def test_flavours_give_predictors_with_signatures() -> None:
    from sklearn.linear_model import LogisticRegression

    from assay.flavours.flavour import Columns, Tensor

    x, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    clf = LogisticRegression().fit(x, y)
    predictor = flavours.flavour("sklearn").predictor(clf, {"flavour": "sklearn"})
    assert predictor.signature is not None
    assert predictor.signature.inputs == (Tensor(name="x", type="float64", shape=(None, 2)),)
    rows = [{"a": float(r[0]), "b": float(r[1]), "label": 1} for r in x[:3]]
    out = predictor(rows, Columns(skip=frozenset({"label"})))
    assert [o["prediction"] for o in out] == clf.predict(x[:3]).tolist()


def test_torch_modules_round_trip_and_predict_on_rows(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from assay.flavours.flavour import Columns

    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    descriptor = flavours.save(net, tmp_path / "t")
    assert descriptor["flavour"] == "torch" and descriptor["format"] == "state_dict"
    loaded = flavours.load(tmp_path / "t", constructor=lambda: torch.nn.Linear(2, 1))
    predictor = flavours.flavour("torch").predictor(loaded, descriptor)
    rows = [{"a": 1.0, "b": 2.0, "label": 0}, {"a": -1.0, "b": 0.5, "label": 1}]
    out = predictor(rows, Columns(skip=frozenset({"label"})))
    with torch.no_grad():
        expected = net(torch.tensor([[1.0, 2.0], [-1.0, 0.5]])).tolist()
    assert np.allclose(out, expected)


def test_saving_a_scikit_learn_model_without_skops_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    from assay.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.raises(MissingExtra, match=r"pip install 'assay\[demo\]'"):
        flavours.save(LogisticRegression(), tmp_path / "m")
