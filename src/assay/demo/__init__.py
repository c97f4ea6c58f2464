"""The demo: real small trainings on scikit-learn's bundled digits data (no download)."""
