"""stLearn stSME without the image (``run_stlearn.py``'s pipeline, SME weights
"weights_matrix_pd_gd": spatial neighbours x expression correlation, one of stLearn's documented
weightings), for an offline machine where stLearn's ResNet50 weights cannot be downloaded."""

from __future__ import annotations

from _runner import main
from run_stlearn import stsme


def cluster(adata, n_domains: int, seed: int) -> list:
    return stsme(adata, n_domains, seed, use_image=False)


if __name__ == "__main__":
    main(cluster)
