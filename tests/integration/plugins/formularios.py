"""The product's own plugin, loaded from this tests-only plugins folder as from ``plugins/``."""

from cvp_plugin import CvpFormsPlugin  # noqa: F401 - Airflow registers every plugin class found here
