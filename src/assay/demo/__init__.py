"""The demo: real small trainings on scikit-learn's bundled digits data (no download),
then the rest of a model's life on the same data: crowd labels and their consensus
(``labels``), drift against a training profile (``drift``), the production model served
over HTTP (``serve``)."""
