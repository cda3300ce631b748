"""All clustering metrics of one labelling in an AnnData, in one dict."""

from __future__ import annotations

from anndata import AnnData

from .. import _keys
from .._errors import InputError
from .._validation import check_spatial
from ._partition import ami, ari, nmi
from ._spatial import chaos, pas


def compare(adata: AnnData, key: str = _keys.DOMAIN, truth_key: str = "layer") -> dict[str, float]:
    """Score ``obs[key]`` against ``obs[truth_key]`` and for spatial coherence.

    ARI, NMI and AMI use only spots whose truth is known (not NaN); PAS and CHAOS describe
    the predicted labelling on all spots (``obsm['spatial']``).

    Returns
    -------
    ``{'ari', 'nmi', 'ami', 'pas', 'chaos', 'n_scored'}`` (``n_scored``: spots with truth).
    """
    for name in (key, truth_key):
        if name not in adata.obs:
            raise InputError(
                f"adata.obs[{name!r}] is missing (obs has {list(adata.obs.columns)}). "
                "Pass the names of the predicted and true label columns, e.g. "
                "compare(adata, key='spatialfuse_domain', truth_key='layer')."
            )
    labels = adata.obs[key].to_numpy()
    truth = adata.obs[truth_key].to_numpy()
    coords = check_spatial(adata)
    return {
        "ari": ari(truth, labels),
        "nmi": nmi(truth, labels),
        "ami": ami(truth, labels),
        "pas": pas(labels, coords),
        "chaos": chaos(labels, coords),
        "n_scored": int(adata.obs[truth_key].notna().sum()),
    }
