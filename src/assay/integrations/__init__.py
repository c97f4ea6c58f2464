"""Callbacks that track a framework's training with Assay (docs/integrations.md).

One module per framework; each imports its framework only when its callback is asked
for, so importing this package imports none of them:

    from assay.integrations.keras import AssayCallback          # Keras 3
    from assay.integrations.xgboost import AssayCallback        # XGBoost
    from assay.integrations.lightgbm import assay_callback      # LightGBM
    from assay.integrations.lightning import AssayLogger        # Lightning
    from assay.integrations.transformers import AssayCallback   # Hugging Face Trainer
    from assay.integrations.sklearn import autolog              # scikit-learn
    from assay.integrations.optuna import AssayCallback         # Optuna

They use only Assay's public SDK (``assay.init``, ``assay.active_run``, ``Run.log``,
``run.config``, ``run.summary``, ``run.log_artifact``, ``run.log_model``).

LLM clients are recorded as spans (docs/traces.md), over the SDK's tracing:

    assay.integrations.openai.instrument(openai.OpenAI())        # and AsyncOpenAI
    assay.integrations.anthropic.instrument(anthropic.Anthropic())  # and AsyncAnthropic
"""
