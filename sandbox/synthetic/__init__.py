"""Synthetic TCGA-GBM/LGG cohort generator: writes GDC release bundles (shared/GDC_BUNDLE.md).

    from sandbox.synthetic import CohortSpec, write_bundle, write_multi_release, RELEASE_PROFILES
    summary = write_bundle(Path("data/bundles/synthetic"), CohortSpec(n_cases=1100, seed=7))

The biology (all distributions and their sources) is in `cohort_model.py`; the latent truth of every
case is written beside the bundle as `releases/<label>/_synthetic_truth.parquet` (and
`_synthetic_truth_files.parquet` for methylation files), outside the bundle contract.
"""

from sandbox.synthetic.defects import DEFECT_KINDS
from sandbox.synthetic.profiles import RELEASE_PROFILES, ReleaseProfile, status_document
from sandbox.synthetic.writer import (
    TRUTH_FILE,
    TRUTH_FILES_FILE,
    BundleSummary,
    CohortSpec,
    write_bundle,
    write_multi_release,
)

__all__ = [
    "BundleSummary",
    "CohortSpec",
    "DEFECT_KINDS",
    "RELEASE_PROFILES",
    "ReleaseProfile",
    "TRUTH_FILE",
    "TRUTH_FILES_FILE",
    "status_document",
    "write_bundle",
    "write_multi_release",
]
