"""Hyperparameter sweeps, the domain: the search space a sweep file describes
(``space``), how each trial's parameters are chosen (``sampling``: grid, seeded random,
TPE through Optuna), when a trial is stopped early (``pruning``: Optuna's pruners) and
which parameters mattered (``importance``: Optuna's fANOVA). Storage is the store's
``sweeps`` facet; the agent that runs trials is ``assay.sdk.sweeps``."""
