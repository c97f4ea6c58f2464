import subprocess
import sys

import assay


def test_public_names_are_pinned() -> None:
    assert sorted(assay.__all__) == [
        "Api",
        "ApiRun",
        "Artifact",
        "Audio",
        "Histogram",
        "Html",
        "Image",
        "Plot",
        "Run",
        "Settings",
        "Table",
        "Text",
        "Video",
        "__version__",
        "active_run",
        "batched",
        "errors",
        "evaluate",
        "feedback",
        "finish",
        "flush",
        "flush_traces",
        "init",
        "labeling",
        "log",
        "models",
        "monitoring",
        "predict",
        "prompts",
        "register_model",
        "scorers",
        "serve",
        "span",
        "sweep",
        "trace",
    ]
    for name in assay.__all__:
        assert getattr(assay, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        assay.nonexistent  # noqa: B018
    except AttributeError as exc:
        assert "nonexistent" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_assay_loads_no_heavy_library() -> None:
    code = (
        "import sys, assay; heavy = [m for m in ('sqlalchemy', 'numpy', 'pandas', 'lark', "
        "'alembic', 'rich', 'click') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_error_tree_roots_at_assay_error() -> None:
    from assay import errors

    for name in (
        "InvalidInput",
        "FilterSyntaxError",
        "NotFound",
        "Conflict",
        "StoreUnavailable",
        "ServerUnavailable",
        "SchemaMismatch",
        "JournalCorrupt",
        "CorruptData",
    ):
        assert issubclass(getattr(errors, name), errors.AssayError)


def test_the_flavours_package_does_not_shadow_assay_models() -> None:
    """Importing the flavours package first keeps ``assay.models`` the SDK's registry
    module (the domain package is named apart from the public name for that reason)."""
    code = (
        "import assay; from assay.flavours import saved; import assay.flavours.sklearn; "
        "print(assay.models.__name__, callable(assay.models.load), saved.DESCRIPTOR)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["assay.sdk.models", "True", "assay-model.json"]
