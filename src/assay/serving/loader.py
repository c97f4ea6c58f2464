"""Loading a served model: resolve its URI in the store, download and verify its files,
load it by flavour, read its signature, warm it up. Then keep it current: a model named by
an alias (``models:/name@production``) is watched, and a move of the alias loads the new
version beside the old one and switches to it in one assignment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from assay.artifacts.artifact import download, resolve
from assay.artifacts.uris import ArtifactRef, ModelRef, parse_ref
from assay.errors import InvalidInput, NotFound
from assay.serving import predictors
from assay.serving.signature import DTYPES, Signature, TensorSpec, datatype_of, infer
from assay.serving.tensors import Rows, conform
from assay.store.base import Store, open_store

log = logging.getLogger("assay.serving")
PLATFORMS = {"onnx": "onnxruntime_onnx", "torch": "pytorch_libtorch"}


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """One version of a model, ready to predict."""

    name: str  # what the routes call it: the registered model's (or the artifact's) name
    version: str  # the registry version ("3"), or the artifact version of a plain artifact
    uri: str  # models:/name/3, or project/name:v3
    flavour: str
    signature: Signature
    predictor: predictors.Predictor
    digest: str
    warmed: tuple[int, float] | None = None  # rows and seconds of the warm-up call
    loaded_at: float = field(default_factory=time.time)

    @property
    def platform(self) -> str:
        return PLATFORMS.get(self.flavour, self.flavour)


@dataclass(frozen=True)
class Target:
    """What a served URI names: a model and how its version is chosen."""

    uri: str
    name: str
    selector: str  # a version number, "latest", an alias, or an artifact selector
    registered: bool

    @property
    def moves(self) -> bool:
        """Watched for moves: an alias or ``latest``, not a fixed version."""
        return not self.selector.isdigit() and not (
            not self.registered and self.selector.startswith("v") and self.selector[1:].isdigit()
        )


def target(uri: str) -> Target:
    parsed = parse_ref(uri)
    if isinstance(parsed, ModelRef):
        return Target(uri, parsed.name, parsed.selector, True)
    assert isinstance(parsed, ArtifactRef)
    return Target(uri, parsed.name, parsed.selector, False)


def current_version(store: Store, chosen: Target, project: str | None) -> tuple[str, Any]:
    """The version the target names now: (version label, model or artifact version)."""
    if chosen.registered:
        mv = store.models.version(chosen.name, chosen.selector)
        return str(mv.version), mv
    av = resolve(store, chosen.uri, project)
    return str(av.version), av


def load(store: Store, chosen: Target, project: str | None, allow_pickle: bool) -> LoadedModel:
    """Resolve, download (verified), load by flavour and warm up the version named now."""
    version, record = current_version(store, chosen, project)
    artifact = record.artifact if chosen.registered else record
    if artifact.type != "model":
        raise InvalidInput(f"{artifact.ref} is a {artifact.type!r} artifact, not a model")
    model, descriptor = predictors.load_folder(download(store, artifact), allow_pickle)
    signature = infer(model, descriptor["flavour"], {**artifact.metadata, **descriptor})
    uri = record.uri if chosen.registered else artifact.ref
    made, signature, warmed = _ready(uri, model, descriptor, signature)
    flavour = descriptor["flavour"]
    return LoadedModel(
        name=chosen.name,
        version=version,
        uri=uri,
        flavour=flavour,
        signature=signature,
        predictor=made,
        digest=artifact.digest,
        warmed=warmed,
    )


def _ready(
    uri: str, model: Any, descriptor: dict[str, Any], signature: Signature
) -> tuple[predictors.Predictor, Signature, tuple[int, float] | None]:
    """The predictor to serve, warmed up; the signature with the outputs it gave; the
    rows and seconds of the warm-up (the batcher's first guess of a call's cost)."""
    made = predictors.predictor(model, descriptor)
    began = time.perf_counter()
    outputs = warm_up(uri, signature, made)
    seconds = time.perf_counter() - began
    if not outputs:
        return made, signature, None
    made = replace(made, outputs=tuple(outputs))  # what it gave on its example it offers
    if descriptor["flavour"] == "sklearn":
        made, seconds = _columnar(model, signature, made, outputs, seconds)
    if not signature.outputs:
        found = tuple(
            TensorSpec(name, datatype_of(a), (-1, *a.shape[1:])) for name, a in outputs.items()
        )
        signature = replace(signature, outputs=found)
    return made, signature, (_rows(outputs), seconds)


def _columnar(
    model: Any,
    signature: Signature,
    made: predictors.Predictor,
    expected: predictors.Outputs,
    seconds: float,
) -> tuple[predictors.Predictor, float]:
    """The columnar call of a scikit-learn model when it gives, on the example, exactly
    what the flavour's predictor gave; else the flavour's predictor."""
    rows = _example(signature)
    fast = predictors.columnar(model, signature.names, signature.columns)
    try:
        began = time.perf_counter()
        found = fast.predict(rows or {}, made.outputs)
        taken = time.perf_counter() - began
    except Exception as exc:
        log.info("columnar calls do not fit this model (%s): rows it is", exc)
        return made, seconds
    if not predictors.same_outputs(found, expected):
        log.info("columnar calls differ from the flavour's predictor: rows it is")
        return made, seconds
    return replace(fast, outputs=made.outputs), taken


def _rows(outputs: predictors.Outputs) -> int:
    return int(next(iter(outputs.values())).shape[0])


def warm_up(
    uri: str, signature: Signature, made: predictors.Predictor
) -> predictors.Outputs | None:
    """One prediction (of every output) on the signature's example, else on zeros when
    every input is a number of known width; None when there is nothing to try. A model
    that fails on its own example is not served."""
    rows = _example(signature)
    if rows is None:
        return None
    try:
        return made.predict(rows, made.outputs)
    except Exception as exc:
        raise InvalidInput(f"{uri} failed on its example input: {exc}") from exc


def _example(signature: Signature) -> Rows | None:
    if signature.example is not None:
        return conform(signature, signature.example)
    if any(s.datatype == "BYTES" or -1 in s.shape[1:] for s in signature.inputs):
        return None
    if any(s.loose for s in signature.inputs) and len(signature.inputs) == 1:
        return None
    return {s.name: np.zeros((1, *s.shape[1:]), dtype=DTYPES[s.datatype]) for s in signature.inputs}


class Slot:
    """The version of one model that answers now; swapped whole, never edited."""

    def __init__(self, chosen: Target, model: LoadedModel) -> None:
        self.target = chosen
        self.current = model
        self.error: str | None = None  # why the latest version could not be loaded
        self.failed: str | None = None  # that version, not tried again until the next move
        self.swaps = 0


OnSwap = Callable[[Slot, LoadedModel, LoadedModel], None]
Hook = Callable[[Store], None]


class Watcher(threading.Thread):
    """Polls the store every ``interval`` seconds for the version each moving slot names;
    on a change loads the new version here (off the request path), warms it, then swaps.
    A version that fails to load leaves the previous one serving; the slot says why."""

    def __init__(
        self,
        uri: str | None,
        slots: list[Slot],
        project: str | None,
        allow_pickle: bool,
        *,
        interval: float = 1.0,
        on_swap: OnSwap | None = None,
        on_failure: Callable[[Slot], None] | None = None,
        hooks: list[Hook] | None = None,
    ) -> None:
        super().__init__(name="assay-serve-watcher", daemon=True)
        self.uri, self.slots, self.project = uri, slots, project
        self.hooks = hooks or []  # called after the slots at every poll (traffic policies)
        self.allow_pickle, self.interval, self.on_swap = allow_pickle, interval, on_swap
        self.on_failure = on_failure
        self.stopped = threading.Event()

    def run(self) -> None:
        store: Store | None = None
        while not self.stopped.wait(self.interval):
            try:
                store = self.poll(store)
            except Exception as exc:  # the store is down: keep serving, try again
                log.warning("cannot check for alias moves: %s", exc)
                if store is not None:
                    store.close()
                store = None
        if store is not None:
            store.close()

    def poll(self, store: Store | None = None) -> Store:
        """Check every slot once (opening the store if needed); the store, for next time."""
        store = store or open_store(self.uri)
        for slot in tuple(self.slots):  # arms come and go with traffic policies
            try:
                self.check(store, slot)
            except NotFound as exc:  # the alias was removed: what serves keeps serving
                slot.error = f"{exc}; version {slot.current.version} keeps serving"
        for hook in self.hooks:
            hook(store)
        return store

    def check(self, store: Store, slot: Slot) -> None:
        version, _ = current_version(store, slot.target, self.project)
        if version == slot.current.version:
            slot.error = slot.failed = None  # moved back to what serves: nothing is wrong
            return
        if version == slot.failed:
            return
        log.info("%s now names version %s: loading it", slot.target.uri, version)
        try:
            fresh = load(store, slot.target, self.project, self.allow_pickle)
        except Exception as exc:  # any failure: the old version keeps serving
            slot.failed, slot.error = version, f"version {version} failed to load: {exc}"
            log.error(
                "%s: %s; version %s keeps serving",
                slot.target.uri,
                slot.error,
                slot.current.version,
            )
            if self.on_failure is not None:
                self.on_failure(slot)
            return
        old, slot.current = slot.current, fresh
        slot.error = slot.failed = None
        slot.swaps += 1
        log.info("%s: version %s serves (was %s)", slot.target.uri, fresh.version, old.version)
        if self.on_swap is not None:
            self.on_swap(slot, old, fresh)

    def stop(self) -> None:
        self.stopped.set()
