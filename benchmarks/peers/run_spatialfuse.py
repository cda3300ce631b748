"""spatialfuse's one-call pipeline at its defaults (run by the package's own venv)."""

from __future__ import annotations

from _runner import main


def cluster(adata, n_domains: int, seed: int) -> list:
    import spatialfuse as sf

    sf.settings.progress = False
    sf.tl.spatial_domains(adata, n_domains=n_domains, seed=seed)
    return adata.obs[sf._keys.DOMAIN].tolist()


if __name__ == "__main__":
    main(cluster)
